/**
 * The error table against errors the real @linear/sdk raises from real HTTP responses (a local
 * node:http server answering one request each); no error object is hand-built.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { LinearClient } from '@linear/sdk';
import { LockstepError } from '../../core/errors/index.ts';
import { classifyLinearError } from './errors.ts';

let reply: { status: number; headers: Record<string, string>; body: unknown } = {
  status: 200,
  headers: {},
  body: {},
};
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(JSON.stringify(reply.body));
  });
});
let client: LinearClient;
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  client = new LinearClient({
    apiKey: 'k',
    apiUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
  });
});
after(() => server.close());

async function errorFor(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<unknown> {
  reply = { status, headers, body };
  try {
    await client.client.rawRequest('query { viewer { id } }');
  } catch (err) {
    return err;
  }
  assert.fail('expected the SDK to throw');
}

// extensions.type as @linear/sdk's errorMap spells it on the wire ("ratelimited", "invalid input", …).
const gqlError = (type: string) => ({ errors: [{ message: type, extensions: { type } }] });

test('Ratelimited → rate_limit, retriable, Retry-After in ms', async () => {
  const err = await errorFor(400, gqlError('ratelimited'), { 'retry-after': '7' });
  assert.deepEqual(classifyLinearError(err), { category: 'rate_limit', retriable: true, retryAfterMs: 7000 });
});

test('a bare 429 (no GraphQL type) is still rate_limit', async () => {
  const err = await errorFor(429, {}, { 'retry-after': '2' });
  assert.deepEqual(classifyLinearError(err), { category: 'rate_limit', retriable: true, retryAfterMs: 2000 });
});

test('AuthenticationError and Forbidden → auth, not retriable; only the first refuses the credentials', async () => {
  assert.deepEqual(classifyLinearError(await errorFor(401, gqlError('authentication error'))), {
    category: 'auth',
    retriable: false,
    credentialsRefused: true,
  });
  assert.deepEqual(classifyLinearError(await errorFor(403, {})), { category: 'auth', retriable: false });
});

test('InvalidInput → validation; 5xx → retriable network', async () => {
  assert.deepEqual(classifyLinearError(await errorFor(400, gqlError('invalid input'))), {
    category: 'validation',
    retriable: false,
  });
  assert.deepEqual(classifyLinearError(await errorFor(502, {})), { category: 'network', retriable: true });
  assert.deepEqual(classifyLinearError(await errorFor(500, {})), { category: 'network', retriable: true });
});

test('"Entity not found" (type invalid input, as Linear sends it) → not_found, not validation', async () => {
  const body = {
    errors: [
      {
        message: 'Entity not found: Issue',
        extensions: {
          type: 'invalid input',
          code: 'INPUT_ERROR',
          userPresentableMessage: 'Could not find referenced Issue.',
        },
      },
    ],
  };
  assert.deepEqual(classifyLinearError(await errorFor(400, body)), {
    category: 'not_found',
    retriable: false,
  });
});

test('a refused connection is a retriable network error', async () => {
  const c = new LinearClient({ apiKey: 'k', apiUrl: 'http://127.0.0.1:9/graphql' });
  const err = await c.client.rawRequest('query { viewer { id } }').catch((e: unknown) => e);
  assert.deepEqual(classifyLinearError(err), { category: 'network', retriable: true });
});

test('LockstepErrors keep their own class; programmer errors are unknown and not retried', () => {
  const e = new LockstepError('x', { category: 'conflict', retriable: true, retryAfterMs: 5 });
  assert.deepEqual(classifyLinearError(e), { category: 'conflict', retriable: true, retryAfterMs: 5 });
  assert.deepEqual(classifyLinearError(new TypeError('x is undefined')), {
    category: 'unknown',
    retriable: false,
  });
});
