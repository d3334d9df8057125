/**
 * The error table against errors @slack/web-api raises from real HTTP answers of the Slack emulator
 * (test/emulators/slack, test infrastructure — not Slack), faults injected through its controls;
 * Slack codes the emulator never gives are checked with the SDK's own error classes, built by hand.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import {
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
} from '@slack/web-api';
import { LockstepError } from '../../core/errors/index.ts';
import { EmulatorControl } from '../../../test/emulators/common/control-client.ts';
import {
  DEMO_TOKENS,
  demoSeed,
  startSlackEmulator,
  type RunningSlackEmulator,
} from '../../../test/emulators/slack/index.ts';
import { classifySlackError, describeSlackError, slackErrorCode } from './errors.ts';

const CH = 'C0SANDBOX1';
let emu: RunningSlackEmulator;
let control: EmulatorControl;

before(async () => {
  emu = await startSlackEmulator();
  control = new EmulatorControl(emu.url);
});
after(() => emu.close());
beforeEach(async () => {
  await control.reset();
  await control.seed(demoSeed());
});

function client(token: string = DEMO_TOKENS.bot, extra: ConstructorParameters<typeof WebClient>[1] = {}) {
  return new WebClient(token, {
    slackApiUrl: emu.apiUrl,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    ...extra,
  });
}

/** What the SDK rejects with. */
async function failure(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => assert.fail('expected the Slack SDK to throw'),
    (err: unknown) => err,
  );
}

const CREDENTIALS_REFUSED = { category: 'auth', retriable: false, credentialsRefused: true };

test('a revoked token and a token Slack never issued → auth with the credentials refused', async () => {
  assert.equal(await control.revokeToken(DEMO_TOKENS.carol), true);
  const revoked = await failure(client(DEMO_TOKENS.carol).auth.test());
  assert.deepEqual(classifySlackError(revoked), CREDENTIALS_REFUSED);
  assert.equal(slackErrorCode(revoked), 'invalid_auth');
  assert.equal(describeSlackError(revoked), 'slack_webapi_platform_error: invalid_auth');
  const unknown = await failure(client('xoxb-never-issued').chat.postMessage({ channel: CH, text: 'x' }));
  assert.deepEqual(classifySlackError(unknown), CREDENTIALS_REFUSED);
});

test('no token at all (not_authed) refuses the credentials too', async () => {
  const err = await failure(client('').auth.test());
  assert.equal(slackErrorCode(err), 'not_authed');
  assert.deepEqual(classifySlackError(err), CREDENTIALS_REFUSED);
});

test('refusals of one call are auth without refusing the credentials', async () => {
  const posted = await client().chat.postMessage({ channel: CH, text: 'the bot’s card' });
  const notMine = await failure(
    client(DEMO_TOKENS.alice).chat.update({ channel: CH, ts: String(posted.ts), text: 'x' }),
  );
  assert.equal(slackErrorCode(notMine), 'cant_update_message');
  assert.deepEqual(classifySlackError(notMine), { category: 'auth', retriable: false });
  const scope = await failure(client().conversations.replies({ channel: CH, ts: String(posted.ts) }));
  assert.equal(slackErrorCode(scope), 'missing_scope');
  assert.deepEqual(classifySlackError(scope), { category: 'auth', retriable: false });
});

test('a channel, message, thread or user that does not exist → not_found', async () => {
  const bot = client();
  const posted = await bot.chat.postMessage({ channel: CH, text: 'x' });
  const cases: [Promise<unknown>, string][] = [
    [bot.chat.postMessage({ channel: 'C0NOWHERE1', text: 'x' }), 'channel_not_found'],
    [bot.chat.update({ channel: CH, ts: '1000000000.000001', text: 'x' }), 'message_not_found'],
    [
      client(DEMO_TOKENS.alice).conversations.replies({ channel: CH, ts: '1000000000.000001' }),
      'thread_not_found',
    ],
    [bot.users.info({ user: 'U0NOBODY01' }), 'user_not_found'],
    [bot.users.lookupByEmail({ email: 'nobody@example.com' }), 'users_not_found'],
  ];
  assert.ok(posted.ok);
  for (const [call, code] of cases) {
    const err = await failure(call);
    assert.equal(slackErrorCode(err), code);
    assert.deepEqual(classifySlackError(err), { category: 'not_found', retriable: false }, code);
  }
});

test('requests Slack refuses as malformed → validation, described with response_metadata.messages', async () => {
  const bot = client();
  const missing = await failure(bot.apiCall('chat.postMessage', { text: 'no channel' }));
  assert.deepEqual(classifySlackError(missing), { category: 'validation', retriable: false });
  assert.equal(
    describeSlackError(missing),
    'slack_webapi_platform_error: invalid_arguments; [ERROR] missing required field: channel',
  );
  const cases: [Promise<unknown>, string][] = [
    [bot.chat.postMessage({ channel: CH, text: '' }), 'no_text'],
    [bot.chat.postMessage({ channel: CH, text: 'x'.repeat(40_001) }), 'msg_too_long'],
    [bot.apiCall('chat.postMessage', { channel: CH, text: 'x', thread_ts: '0' }), 'invalid_thread_ts'],
    [
      bot.apiCall('chat.postMessage', { channel: CH, text: 'x', metadata: '{nope' }),
      'invalid_metadata_format',
    ],
    [
      bot.apiCall('chat.postMessage', { channel: CH, text: 'x', metadata: { event_type: 'x' } }),
      'invalid_metadata_schema',
    ],
    [bot.conversations.history({ channel: CH, cursor: 'bm9wZQ==' }), 'invalid_cursor'],
    [bot.apiCall('conversations.history', { channel: CH, oldest: 'yesterday' }), 'invalid_ts_oldest'],
  ];
  for (const [call, code] of cases) {
    const err = await failure(call);
    assert.equal(slackErrorCode(err), code);
    assert.deepEqual(classifySlackError(err), { category: 'validation', retriable: false }, code);
  }
});

test('429 → rate_limit with Retry-After (seconds) as milliseconds', async () => {
  await control.fault({ kind: 'rate_limit', retryAfterSec: 7, count: 1 });
  const err = await failure(client().chat.postMessage({ channel: CH, text: 'x' }));
  assert.ok(err instanceof WebAPIRateLimitedError);
  assert.deepEqual(classifySlackError(err), { category: 'rate_limit', retriable: true, retryAfterMs: 7000 });
  assert.equal(describeSlackError(err), 'slack_webapi_rate_limited_error: retry after 7 s');
});

test('429 with rejectRateLimitedCalls off and no retries left: the SDK’s request error still reads as rate_limit', async () => {
  await control.fault({ kind: 'rate_limit', retryAfterSec: 1, count: 1 });
  const err = await failure(client(DEMO_TOKENS.bot, { rejectRateLimitedCalls: false }).auth.test());
  assert.ok(err instanceof WebAPIRequestError);
  assert.deepEqual(classifySlackError(err), { category: 'rate_limit', retriable: true, retryAfterMs: 1000 });
});

test('5xx → a retriable network error, described with the status', async () => {
  await control.fault({ kind: 'server_error', status: 503, count: 1 });
  const unavailable = await failure(client().auth.test());
  assert.ok(unavailable instanceof WebAPIHTTPError);
  assert.deepEqual(classifySlackError(unavailable), { category: 'network', retriable: true });
  assert.equal(
    describeSlackError(unavailable),
    'slack_webapi_http_error: HTTP 503: 503 emulated server error',
  );
  await control.fault({ kind: 'server_error', status: 500, count: 1 });
  assert.deepEqual(classifySlackError(await failure(client().auth.test())), {
    category: 'network',
    retriable: true,
  });
});

test('the emulator’s not_emulated (HTTP 501) is unknown and not retried, though a 5xx', async () => {
  const err = await failure(client().apiCall('pins.add', { channel: CH, timestamp: '1.000001' }));
  assert.ok(err instanceof WebAPIHTTPError);
  assert.equal(err.statusCode, 501);
  assert.equal(slackErrorCode(err), 'not_emulated');
  assert.deepEqual(classifySlackError(err), { category: 'unknown', retriable: false });
  assert.equal(describeSlackError(err), 'slack_webapi_http_error: HTTP 501: not_emulated');
});

test('no answer: a refused connection and a timeout are retriable network errors', async () => {
  const refused = await failure(
    new WebClient(DEMO_TOKENS.bot, {
      slackApiUrl: 'http://127.0.0.1:9/api/',
      retryConfig: { retries: 0 },
    }).auth.test(),
  );
  assert.ok(refused instanceof WebAPIRequestError);
  assert.deepEqual(classifySlackError(refused), { category: 'network', retriable: true });
  assert.match(describeSlackError(refused), /^slack_webapi_request_error: /);
  await control.fault({ kind: 'timeout', count: 1 });
  const timedOut = await failure(client(DEMO_TOKENS.bot, { timeout: 200 }).auth.test());
  assert.ok(timedOut instanceof WebAPIRequestError);
  assert.deepEqual(classifySlackError(timedOut), { category: 'network', retriable: true });
});

test('codes the emulator never gives, through the SDK’s own classes', () => {
  const platform = (error: string, extra: Record<string, unknown> = {}) =>
    new WebAPIPlatformError({ ok: false, error, ...extra });
  const expected: [string, object][] = [
    ['token_revoked', CREDENTIALS_REFUSED],
    ['token_expired', CREDENTIALS_REFUSED],
    ['account_inactive', CREDENTIALS_REFUSED],
    ['not_in_channel', { category: 'auth', retriable: false }],
    ['restricted_action', { category: 'auth', retriable: false }],
    ['no_permission', { category: 'auth', retriable: false }],
    ['invalid_blocks', { category: 'validation', retriable: false }],
    ['invalid_blocks_format', { category: 'validation', retriable: false }],
    ['metadata_too_large', { category: 'validation', retriable: false }],
    ['too_many_attachments', { category: 'validation', retriable: false }],
    ['internal_error', { category: 'network', retriable: true }],
    ['fatal_error', { category: 'network', retriable: true }],
    ['service_unavailable', { category: 'network', retriable: true }],
    ['request_timeout', { category: 'network', retriable: true }],
    ['rate_limited', { category: 'rate_limit', retriable: true }],
    ['a_code_slack_adds_next_year', { category: 'unknown', retriable: false }],
  ];
  for (const [code, cls] of expected) assert.deepEqual(classifySlackError(platform(code)), cls, code);
  // A rate-limit code in a 200 answer: the SDK keeps Retry-After in response_metadata.retryAfter.
  assert.deepEqual(classifySlackError(platform('ratelimited', { response_metadata: { retryAfter: 30 } })), {
    category: 'rate_limit',
    retriable: true,
    retryAfterMs: 30_000,
  });
  // An HTTP error without Slack's JSON body falls back to the kit's status table.
  assert.deepEqual(classifySlackError(new WebAPIHTTPError(404, 'Not Found', {}, '<html>')), {
    category: 'not_found',
    retriable: false,
  });
  // A 429 whose Retry-After the SDK could not read is a plain Error.
  const noHeader = new Error(
    'Retry header did not contain a valid timeout (url: x, retry-after header: null)',
  );
  assert.deepEqual(classifySlackError(noHeader), { category: 'rate_limit', retriable: true });
});

test('LockstepErrors keep their class; anything else is unknown and not retried', () => {
  const limited = new LockstepError('waiting for budget', { category: 'rate_limit', retryAfterMs: 250 });
  assert.deepEqual(classifySlackError(limited), {
    category: 'rate_limit',
    retriable: true,
    retryAfterMs: 250,
  });
  assert.deepEqual(classifySlackError(new TypeError('x is undefined')), {
    category: 'unknown',
    retriable: false,
  });
  assert.deepEqual(classifySlackError('a string'), { category: 'unknown', retriable: false });
  assert.deepEqual(classifySlackError(Object.assign(new Error('x'), { code: 'ECONNRESET' })), {
    category: 'unknown',
    retriable: false,
  });
  assert.equal(describeSlackError(new Error('line one\nline two')), 'line one line two');
  assert.equal(slackErrorCode(new Error('x')), undefined);
});
