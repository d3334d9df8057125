/**
 * The error table against errors the asana SDK raises from real HTTP answers of the Asana emulator
 * (test/emulators/asana, test infrastructure — not Asana), faults injected through its controls; no
 * error object is hand-built except the non-HTTP ones at the end.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LockstepError } from '../../core/errors/index.ts';
import { EmulatorControl } from '../../../test/emulators/common/control-client.ts';
import { DEMO_TOKENS, demoSeed, startAsanaEmulator } from '../../../test/emulators/asana/index.ts';
import { asanaApis } from './client.ts';
import { asanaConfigSchema, type AsanaConfig } from './config.ts';
import { classifyAsanaError, describeAsanaError } from './errors.ts';

const PROJECT = '1100000000000100';
const TASK = '1100000000001001';
/** Carol's comment on the second seeded task: the bot may read it, not edit it. */
const CAROLS_STORY = '1100000000002001';

let emu: Awaited<ReturnType<typeof startAsanaEmulator>>;
let control: EmulatorControl;
const configFor = (over: Record<string, unknown> = {}): AsanaConfig =>
  asanaConfigSchema.parse({
    accessToken: DEMO_TOKENS.bot,
    baseUrl: emu.apiUrl,
    projects: [PROJECT],
    ...over,
  });

before(async () => {
  emu = await startAsanaEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
  control = new EmulatorControl(emu.url);
});
after(() => emu.close());

/** What the SDK rejects with for reading the seeded task (or another call). */
async function failure(call: (apis: ReturnType<typeof asanaApis>) => Promise<unknown>, cfg = configFor()) {
  return call(asanaApis(cfg)).then(
    () => assert.fail('expected the asana SDK to throw'),
    (err: unknown) => err,
  );
}
const readTask = (apis: ReturnType<typeof asanaApis>) => apis.tasks.getTask(TASK, { opt_fields: 'name' });

test('429 → rate_limit with Retry-After (seconds) as milliseconds', async () => {
  await control.fault({ kind: 'rate_limit', retryAfterSec: 7, count: 1 });
  const err = await failure(readTask);
  assert.deepEqual(classifyAsanaError(err), { category: 'rate_limit', retriable: true, retryAfterMs: 7000 });
  assert.match(describeAsanaError(err), /^Too Many Requests \(429\): You have made too many requests/);
});

test('503 and 500 → retriable network errors', async () => {
  await control.fault({ kind: 'server_error', status: 503, count: 1 });
  const unavailable = await failure(readTask);
  assert.deepEqual(classifyAsanaError(unavailable), { category: 'network', retriable: true });
  assert.match(describeAsanaError(unavailable), /\(503\): Server Error$/);
  await control.fault({ kind: 'server_error', status: 500, count: 1 });
  assert.deepEqual(classifyAsanaError(await failure(readTask)), { category: 'network', retriable: true });
});

test('401 for an unknown or revoked token → auth, with the credentials refused', async () => {
  const unknown = await failure(readTask, configFor({ accessToken: 'never-issued-token' }));
  assert.deepEqual(classifyAsanaError(unknown), {
    category: 'auth',
    retriable: false,
    credentialsRefused: true,
  });
  assert.equal(describeAsanaError(unknown), 'Unauthorized (401): Not Authorized');

  assert.equal(await control.revokeToken(DEMO_TOKENS.carol), true);
  const revoked = await failure(readTask, configFor({ accessToken: DEMO_TOKENS.carol }));
  assert.equal(classifyAsanaError(revoked).credentialsRefused, true);
});

test('403 on one record is auth without refusing the credentials', async () => {
  const err = await failure((apis) =>
    apis.stories.updateStory({ data: { text: 'not mine to edit' } }, CAROLS_STORY, {}),
  );
  assert.deepEqual(classifyAsanaError(err), { category: 'auth', retriable: false });
  assert.equal(describeAsanaError(err), 'Forbidden (403): Forbidden');
});

test('404 → not_found, described with Asana’s message', async () => {
  const err = await failure((apis) => apis.tasks.getTask('1100000009999999', { opt_fields: 'name' }));
  assert.deepEqual(classifyAsanaError(err), { category: 'not_found', retriable: false });
  assert.equal(describeAsanaError(err), 'Not Found (404): task: Unknown object: 1100000009999999');
});

test('400 → validation, not retried', async () => {
  const err = await failure((apis) =>
    apis.tasks.createTask({ data: { name: 'no project, no workspace' } }, {}),
  );
  assert.deepEqual(classifyAsanaError(err), { category: 'validation', retriable: false });
  assert.equal(describeAsanaError(err), 'Bad Request (400): workspace: Missing input');
});

test('a refused connection (superagent sets err.code) is a retriable network error', async () => {
  const err = await failure(readTask, configFor({ baseUrl: 'http://127.0.0.1:9/api/1.0' }));
  assert.equal((err as { code?: string }).code, 'ECONNREFUSED');
  assert.deepEqual(classifyAsanaError(err), { category: 'network', retriable: true });
});

test('no answer within requestTimeoutMs → client.ts’s LockstepError, classified by its own class', async () => {
  await control.fault({ kind: 'latency', ms: 1000, count: 1 });
  const err = await failure(readTask, configFor({ requestTimeoutMs: 100 }));
  assert.ok(err instanceof LockstepError);
  assert.deepEqual(classifyAsanaError(err), { category: 'network', retriable: true });
  assert.match(describeAsanaError(err), /no answer within 100 ms/);
});

test('LockstepErrors keep their class; anything else is unknown and not retried', () => {
  const limited = new LockstepError('waiting for budget', { category: 'rate_limit', retryAfterMs: 250 });
  assert.deepEqual(classifyAsanaError(limited), {
    category: 'rate_limit',
    retriable: true,
    retryAfterMs: 250,
  });
  assert.deepEqual(classifyAsanaError(new TypeError('x is undefined')), {
    category: 'unknown',
    retriable: false,
  });
  assert.deepEqual(classifyAsanaError('a string'), { category: 'unknown', retriable: false });
  assert.equal(describeAsanaError(new Error('line one\nline two')), 'line one line two');
});
