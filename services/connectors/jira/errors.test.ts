/**
 * The error table against errors jira.js raises from real HTTP responses (a local node:http server
 * answering each request as told); no error object is hand-built.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Version3Client } from 'jira.js';
import { LockstepError } from '../../core/errors/index.ts';
import { classifyJiraError } from './errors.ts';

let reply: { status: number; headers: Record<string, string> } = { status: 200, headers: {} };
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(JSON.stringify({ errorMessages: ['told to fail'], errors: {} }));
  });
});
let client: Version3Client;
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new Version3Client({ host, authentication: { basic: { email: 'e', apiToken: 't' } } });
});
after(() => server.close());

async function errorFor(status: number, headers: Record<string, string> = {}): Promise<unknown> {
  reply = { status, headers };
  return client.issues.getIssue({ issueIdOrKey: 'PROJ-1' }).then(
    () => assert.fail('expected jira.js to throw'),
    (err: unknown) => err,
  );
}

test('429 → rate_limit with Retry-After read from the AxiosError cause', async () => {
  assert.deepEqual(classifyJiraError(await errorFor(429, { 'retry-after': '3' })), {
    category: 'rate_limit',
    retriable: true,
    retryAfterMs: 3000,
  });
  assert.deepEqual(classifyJiraError(await errorFor(429)), { category: 'rate_limit', retriable: true });
});

test('4xx statuses map through the table', async () => {
  assert.deepEqual(classifyJiraError(await errorFor(400)), { category: 'validation', retriable: false });
  // 401: the credentials themselves (egress holds commands); 403: this one request.
  assert.deepEqual(classifyJiraError(await errorFor(401)), {
    category: 'auth',
    retriable: false,
    credentialsRefused: true,
  });
  assert.deepEqual(classifyJiraError(await errorFor(403)), { category: 'auth', retriable: false });
  assert.deepEqual(classifyJiraError(await errorFor(404)), { category: 'not_found', retriable: false });
  assert.deepEqual(classifyJiraError(await errorFor(409)), { category: 'conflict', retriable: true });
});

test('5xx → retriable network, with Retry-After when sent', async () => {
  assert.deepEqual(classifyJiraError(await errorFor(500)), { category: 'network', retriable: true });
  assert.deepEqual(classifyJiraError(await errorFor(503, { 'retry-after': '10' })), {
    category: 'network',
    retriable: true,
    retryAfterMs: 10_000,
  });
});

test('a refused connection is a retriable network error', async () => {
  const dead = new Version3Client({
    host: 'http://127.0.0.1:9',
    authentication: { basic: { email: 'e', apiToken: 't' } },
  });
  const err = await dead.issues.getIssue({ issueIdOrKey: 'PROJ-1' }).then(
    () => assert.fail('expected a throw'),
    (e: unknown) => e,
  );
  assert.deepEqual(classifyJiraError(err), { category: 'network', retriable: true });
});

test('LockstepErrors keep their class; anything else is unknown and not retried', () => {
  assert.deepEqual(classifyJiraError(new LockstepError('x', { category: 'validation' })), {
    category: 'validation',
    retriable: false,
  });
  assert.deepEqual(classifyJiraError(new TypeError('boom')), { category: 'unknown', retriable: false });
});
