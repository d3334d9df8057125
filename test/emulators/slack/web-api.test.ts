/**
 * The Slack emulator driven through @slack/web-api, the SDK Lockstep's connector uses, for every
 * Web API call Lockstep makes; plus the error shapes Slack gives requests it rejects, and faults.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ErrorCode, WebClient, type WebAPIPlatformError } from '@slack/web-api';
import { EmulatorControl } from '../common/control-client.ts';
import { DEMO_TOKENS, demoSeed, startSlackEmulator, type RunningSlackEmulator } from './index.ts';

let emu: RunningSlackEmulator;
let control: EmulatorControl;
const CH = 'C0SANDBOX1';

function client(token: string, extra: ConstructorParameters<typeof WebClient>[1] = {}): WebClient {
  return new WebClient(token, {
    slackApiUrl: emu.apiUrl,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    ...extra,
  });
}

async function platformError(p: Promise<unknown>): Promise<WebAPIPlatformError> {
  try {
    await p;
  } catch (err) {
    const e = err as WebAPIPlatformError;
    assert.equal(e.code, ErrorCode.PlatformError, `expected a platform error, got ${String(err)}`);
    return e;
  }
  throw new Error('expected the call to fail');
}

async function rawCall(
  method: string,
  init: RequestInit,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${emu.apiUrl}${method}`, { method: 'POST', ...init });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

before(async () => {
  emu = await startSlackEmulator();
  control = new EmulatorControl(emu.url);
});
after(() => emu.close());
beforeEach(async () => {
  await control.reset();
  await control.seed(demoSeed());
});

describe('identity', () => {
  test('auth.test names the bot (with bot_id) for the bot token and the person for theirs', async () => {
    const bot = await client(DEMO_TOKENS.bot).auth.test();
    assert.equal(bot.ok, true);
    assert.equal(bot.user_id, 'U0LOCKBOT1');
    assert.equal(bot.bot_id, 'B0LOCKBOT1');
    assert.equal(bot.team_id, 'T0SANDBOX1');
    const alice = await client(DEMO_TOKENS.alice).auth.test();
    assert.equal(alice.user_id, 'U0ALICE001');
    assert.equal(alice.bot_id, undefined);
  });

  test('an xox token Slack never issued, or a revoked one, is invalid_auth', async () => {
    await assert.rejects(client('xoxp-someone-new').auth.test(), /invalid_auth/);
    assert.equal(await control.revokeToken(DEMO_TOKENS.carol), true);
    await assert.rejects(client(DEMO_TOKENS.carol).auth.test(), /invalid_auth/);
  });

  test('users.info and users.lookupByEmail return the seeded people; unknowns get Slack errors', async () => {
    const c = client(DEMO_TOKENS.bot);
    const info = await c.users.info({ user: 'U0BOB00001' });
    assert.equal(info.user?.profile?.email, 'bob@example.com');
    assert.equal(info.user?.real_name, 'Bob Example');
    const byEmail = await c.users.lookupByEmail({ email: 'Carol@Example.com' });
    assert.equal(byEmail.user?.id, 'U0CAROL001');
    const bot = await c.users.info({ user: 'U0LOCKBOT1' });
    assert.equal(bot.user?.is_bot, true);
    assert.equal(
      (await platformError(c.users.lookupByEmail({ email: 'nobody@example.com' }))).data.error,
      'users_not_found',
    );
    assert.equal((await platformError(c.users.info({ user: 'U0NOBODY01' }))).data.error, 'user_not_found');
  });
});

describe('messages (work items) and thread replies (comments)', () => {
  test('chat.postMessage with the create marker returns ts, channel and the message', async () => {
    const c = client(DEMO_TOKENS.bot);
    const metadata = {
      event_type: 'lockstep_item',
      event_payload: { link_id: 'lnk-1', source: 'linear:ENG-1' },
    };
    const r = await c.chat.postMessage({ channel: CH, text: 'Fix login', metadata });
    assert.equal(r.ok, true);
    assert.equal(r.channel, CH);
    assert.match(String(r.ts), /^\d{10}\.\d{6}$/);
    assert.equal(r.message?.text, 'Fix login');
    assert.equal(r.message?.bot_id, 'B0LOCKBOT1');
    assert.equal(r.message?.user, 'U0LOCKBOT1');
    assert.deepEqual(r.message?.metadata, metadata);
  });

  test('chat.update changes text and metadata, marks the edit, and is refused for someone else’s message', async () => {
    const bot = client(DEMO_TOKENS.bot);
    const posted = await bot.chat.postMessage({ channel: CH, text: 'v1' });
    const ts = String(posted.ts);
    const r = await bot.chat.update({
      channel: CH,
      ts,
      text: 'v2',
      metadata: { event_type: 'lockstep_item', event_payload: { rev: 2 } },
    });
    assert.equal(r.ts, ts);
    assert.equal(r.text, 'v2');
    assert.equal((r.message as { edited?: { user: string } }).edited?.user, 'U0LOCKBOT1');
    const e = await platformError(client(DEMO_TOKENS.alice).chat.update({ channel: CH, ts, text: 'hijack' }));
    assert.equal(e.data.error, 'cant_update_message');
    const missing = await platformError(bot.chat.update({ channel: CH, ts: '1000000000.000001', text: 'x' }));
    assert.equal(missing.data.error, 'message_not_found');
    const badChannel = await platformError(bot.chat.update({ channel: 'C0NOWHERE1', ts, text: 'x' }));
    assert.equal(badChannel.data.error, 'channel_not_found');
  });

  test('comments: reply in a thread, edit the reply, list the thread (with a person’s token)', async () => {
    const bot = client(DEMO_TOKENS.bot);
    const alice = client(DEMO_TOKENS.alice);
    const parent = String((await bot.chat.postMessage({ channel: CH, text: 'Item' })).ts);
    const reply = await alice.chat.postMessage({ channel: CH, text: 'first comment', thread_ts: parent });
    assert.equal(reply.message?.thread_ts, parent);
    assert.equal((reply.message as { parent_user_id?: string }).parent_user_id, 'U0LOCKBOT1');
    await bot.chat.postMessage({ channel: CH, text: 'bot comment', thread_ts: parent });
    await alice.chat.update({ channel: CH, ts: String(reply.ts), text: 'first comment, edited' });

    const thread = await alice.conversations.replies({ channel: CH, ts: parent });
    const msgs = thread.messages ?? [];
    assert.deepEqual(
      msgs.map((m) => m.text),
      ['Item', 'first comment, edited', 'bot comment'],
    );
    assert.equal(msgs[0]?.reply_count, 2);
    assert.deepEqual(msgs[0]?.reply_users, ['U0ALICE001', 'U0LOCKBOT1']);
    assert.equal(thread.has_more, false);
    // Replies do not appear in the channel's history: it lists parents only.
    const history = await bot.conversations.history({ channel: CH });
    assert.equal(
      history.messages?.some((m) => m.text === 'bot comment'),
      false,
    );
  });

  test('conversations.replies with a bot token in a public channel is refused, as Slack documents', async () => {
    const bot = client(DEMO_TOKENS.bot);
    const parent = String((await bot.chat.postMessage({ channel: CH, text: 'Item' })).ts);
    const e = await platformError(bot.conversations.replies({ channel: CH, ts: parent }));
    assert.equal(e.data.error, 'missing_scope');
    assert.equal((e.data as { needed?: string }).needed, 'channels:history');
    await control.seed({ app: { botCanReadChannelThreads: true } });
    const ok = await bot.conversations.replies({ channel: CH, ts: parent });
    assert.equal(ok.messages?.length, 1);
    const unknown = await platformError(bot.conversations.replies({ channel: CH, ts: '1000000000.000001' }));
    assert.equal(unknown.data.error, 'thread_not_found');
  });
});

describe('delta reads', () => {
  test('conversations.history: newest first, oldest/latest/inclusive, cursor pages, metadata only on request', async () => {
    const bot = client(DEMO_TOKENS.bot);
    await control.reset();
    await control.seed({ ...demoSeed(), messages: [] });
    const ts: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const r = await bot.chat.postMessage({
        channel: CH,
        text: `m${i}`,
        metadata: { event_type: 'lockstep_item', event_payload: { n: i } },
      });
      ts.push(String(r.ts));
    }
    const all = await bot.conversations.history({ channel: CH });
    assert.deepEqual(
      all.messages?.map((m) => m.text),
      ['m5', 'm4', 'm3', 'm2', 'm1'],
    );
    assert.equal(all.messages?.[0]?.metadata, undefined);

    const since = await bot.conversations.history({ channel: CH, oldest: ts[2], include_all_metadata: true });
    assert.deepEqual(
      since.messages?.map((m) => m.text),
      ['m5', 'm4'],
    );
    assert.deepEqual(since.messages?.[0]?.metadata, { event_type: 'lockstep_item', event_payload: { n: 5 } });
    const inclusive = await bot.conversations.history({
      channel: CH,
      oldest: ts[2],
      latest: ts[3],
      inclusive: true,
    });
    assert.deepEqual(
      inclusive.messages?.map((m) => m.text),
      ['m4', 'm3'],
    );

    const p1 = await bot.conversations.history({ channel: CH, limit: 2 });
    assert.deepEqual(
      p1.messages?.map((m) => m.text),
      ['m5', 'm4'],
    );
    assert.equal(p1.has_more, true);
    const cursor = p1.response_metadata?.next_cursor;
    assert.ok(cursor);
    const p2 = await bot.conversations.history({ channel: CH, limit: 2, cursor });
    assert.deepEqual(
      p2.messages?.map((m) => m.text),
      ['m3', 'm2'],
    );
    const p3 = await bot.conversations.history({
      channel: CH,
      limit: 2,
      cursor: String(p2.response_metadata?.next_cursor),
    });
    assert.deepEqual(
      p3.messages?.map((m) => m.text),
      ['m1'],
    );
    assert.equal(p3.has_more, false);
    assert.equal(p3.response_metadata?.next_cursor, undefined);

    assert.equal(
      (await platformError(bot.conversations.history({ channel: CH, cursor: 'bm9wZQ==' }))).data.error,
      'invalid_cursor',
    );
    assert.equal(
      (await platformError(bot.conversations.history({ channel: 'C0NOWHERE1' }))).data.error,
      'channel_not_found',
    );
  });

  test('an edit does not move a message in history (ts is creation time); the edit shows as `edited`', async () => {
    const bot = client(DEMO_TOKENS.bot);
    const a = String((await bot.chat.postMessage({ channel: CH, text: 'a' })).ts);
    const b = String((await bot.chat.postMessage({ channel: CH, text: 'b' })).ts);
    await bot.chat.update({ channel: CH, ts: a, text: 'a2' });
    const after = await bot.conversations.history({ channel: CH, oldest: a });
    assert.deepEqual(
      after.messages?.map((m) => m.ts),
      [b],
    );
    const all = await bot.conversations.history({ channel: CH, oldest: a, inclusive: true });
    const edited = all.messages?.find((m) => m.ts === a);
    assert.equal(edited?.text, 'a2');
    assert.ok(Number(edited?.edited?.ts) > Number(b));
  });
});

describe('requests Slack rejects', () => {
  test('a missing required argument is invalid_arguments with Slack’s [ERROR] messages', async () => {
    const bot = client(DEMO_TOKENS.bot);
    const e = await platformError(bot.apiCall('chat.postMessage', { text: 'no channel' }));
    assert.equal(e.data.error, 'invalid_arguments');
    assert.deepEqual(e.data.response_metadata?.messages, ['[ERROR] missing required field: channel']);
    const h = await platformError(bot.apiCall('conversations.history', {}));
    assert.deepEqual(h.data.response_metadata?.messages, ['[ERROR] missing required field: channel']);
    const u = await platformError(bot.apiCall('chat.update', { channel: CH, text: 'x' }));
    assert.deepEqual(u.data.response_metadata?.messages, ['[ERROR] missing required field: ts']);
  });

  test('values of the wrong type: named errors where Slack has them, invalid_arguments otherwise', async () => {
    const bot = client(DEMO_TOKENS.bot);
    assert.equal(
      (await platformError(bot.apiCall('conversations.history', { channel: CH, limit: 'ten' }))).data.error,
      'invalid_arguments',
    );
    assert.equal(
      (await platformError(bot.apiCall('conversations.history', { channel: CH, oldest: 'yesterday' }))).data
        .error,
      'invalid_ts_oldest',
    );
    assert.equal(
      (await platformError(bot.apiCall('conversations.history', { channel: CH, latest: 'now' }))).data.error,
      'invalid_ts_latest',
    );
    const thread = await platformError(
      bot.apiCall('chat.postMessage', { channel: CH, text: 'x', thread_ts: '0' }),
    );
    assert.equal(thread.data.error, 'invalid_thread_ts');
    assert.equal(
      (await platformError(bot.chat.postMessage({ channel: CH, text: '' }))).data.error,
      'no_text',
    );
  });

  test('metadata that is not JSON, or not {event_type, event_payload}, is refused', async () => {
    const bot = client(DEMO_TOKENS.bot);
    const notJson = await platformError(
      bot.apiCall('chat.postMessage', { channel: CH, text: 'x', metadata: '{nope' }),
    );
    assert.equal(notJson.data.error, 'invalid_metadata_format');
    const wrong = await platformError(
      bot.apiCall('chat.postMessage', { channel: CH, text: 'x', metadata: { event_type: 'x' } }),
    );
    assert.equal(wrong.data.error, 'invalid_metadata_schema');
  });

  test('no token is not_authed; a token that is not a Slack token is invalid_auth (HTTP 200 both)', async () => {
    const none = await rawCall('auth.test', {});
    assert.equal(none.status, 200);
    assert.deepEqual(none.body, { ok: false, error: 'not_authed' });
    const bad = await rawCall('auth.test', { headers: { authorization: 'Bearer not-a-slack-token' } });
    assert.equal(bad.status, 200);
    assert.deepEqual(bad.body, { ok: false, error: 'invalid_auth' });
    // The token may also travel as a form argument, as Slack allows.
    const form = await rawCall('auth.test', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${DEMO_TOKENS.alice}`,
    });
    assert.equal(form.body['user_id'], 'U0ALICE001');
  });

  test('JSON bodies are read only by methods whose spec consumes JSON; unknown arguments are ignored but reported', async () => {
    const auth = {
      authorization: `Bearer ${DEMO_TOKENS.bot}`,
      'content-type': 'application/json; charset=utf-8',
    };
    const post = await rawCall('chat.postMessage', {
      headers: auth,
      body: JSON.stringify({ channel: CH, text: 'json', colour: 'red' }),
    });
    assert.equal(post.body['ok'], true);
    assert.equal(post.headers.get('x-emulator-ignored-args'), 'colour');
    const hist = await rawCall('conversations.history', {
      headers: auth,
      body: JSON.stringify({ channel: CH }),
    });
    assert.equal(hist.body['error'], 'invalid_arguments');
    const broken = await rawCall('chat.postMessage', { headers: auth, body: '{"channel":' });
    assert.equal(broken.body['error'], 'invalid_json');
  });

  test('a method Slack does not have is unknown_method; one the emulator does not implement says so', async () => {
    const bot = client(DEMO_TOKENS.bot);
    const unknown = await rawCall('chat.teleport', {
      headers: { authorization: `Bearer ${DEMO_TOKENS.bot}` },
    });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body['error'], 'unknown_method');
    await assert.rejects(
      bot.apiCall('pins.add', { channel: CH, timestamp: '1712345678.000100' }),
      (err: { code?: string; statusCode?: number }) => {
        assert.equal(err.code, ErrorCode.HTTPError);
        assert.equal(err.statusCode, 501);
        return true;
      },
    );
  });
});

describe('faults and the ledger', () => {
  test('rate limit: 429 with Retry-After and {ok:false, error:"ratelimited"}; the SDK reports retryAfter', async () => {
    await control.fault({
      kind: 'rate_limit',
      retryAfterSec: 7,
      count: 1,
      match: { operation: 'chat.postMessage' },
    });
    const bot = client(DEMO_TOKENS.bot);
    await assert.rejects(
      bot.chat.postMessage({ channel: CH, text: 'x' }),
      (err: { code?: string; retryAfter?: number }) => {
        assert.equal(err.code, ErrorCode.RateLimitedError);
        assert.equal(err.retryAfter, 7);
        return true;
      },
    );
    await control.fault({ kind: 'rate_limit', retryAfterSec: 3, count: 1 });
    const raw = await rawCall('auth.test', { headers: { authorization: `Bearer ${DEMO_TOKENS.bot}` } });
    assert.equal(raw.status, 429);
    assert.equal(raw.headers.get('retry-after'), '3');
    assert.deepEqual(raw.body, { ok: false, error: 'ratelimited' });
    // The fault was used up: the next call succeeds.
    assert.equal((await bot.chat.postMessage({ channel: CH, text: 'x' })).ok, true);
    const { summary } = await control.ledger();
    assert.equal(summary.byRoute['POST /api/chat.postMessage chat.postMessage'], 2);
    assert.equal(summary.byRoute['POST /api/auth.test auth.test'], 1);
    assert.equal(summary.total, 3);
  });

  test('5xx: the SDK raises an HTTP error and the ledger records the status', async () => {
    await control.fault({ kind: 'server_error', status: 503, count: 1 });
    await assert.rejects(
      client(DEMO_TOKENS.bot).auth.test(),
      (err: { code?: string; statusCode?: number }) => {
        assert.equal(err.code, ErrorCode.HTTPError);
        assert.equal(err.statusCode, 503);
        return true;
      },
    );
    const { entries } = await control.ledger();
    assert.deepEqual(
      entries.map((e) => [e.operation, e.status, e.actor]),
      [['auth.test', 503, 'U0LOCKBOT1']],
    );
  });

  test('latency delays the answer; a timeout never answers and the SDK gives up', async () => {
    await control.fault({ kind: 'latency', ms: 300, count: 1 });
    const t0 = Date.now();
    await client(DEMO_TOKENS.bot).auth.test();
    assert.ok(Date.now() - t0 >= 290);
    await control.fault({ kind: 'timeout', count: 1 });
    await assert.rejects(client(DEMO_TOKENS.bot, { timeout: 300 }).auth.test(), (err: { code?: string }) => {
      assert.equal(err.code, ErrorCode.RequestError);
      return true;
    });
    const { entries } = await control.ledger();
    assert.deepEqual(
      entries.map((e) => e.status),
      [200, 0],
    );
  });

  test('the ledger counts every call per method and actor', async () => {
    const bot = client(DEMO_TOKENS.bot);
    const alice = client(DEMO_TOKENS.alice);
    await bot.chat.postMessage({ channel: CH, text: 'a' });
    await bot.chat.postMessage({ channel: CH, text: 'b' });
    await alice.conversations.history({ channel: CH });
    await platformError(bot.users.info({ user: 'U0NOBODY01' }));
    const { summary } = await control.ledger();
    assert.equal(summary.total, 4);
    assert.deepEqual(summary.byActor, { U0LOCKBOT1: 3, U0ALICE001: 1 });
    assert.equal(summary.byActorRoute['U0LOCKBOT1']?.['POST /api/chat.postMessage chat.postMessage'], 2);
    assert.equal(
      summary.byActorRoute['U0ALICE001']?.['POST /api/conversations.history conversations.history'],
      1,
    );
  });
});

describe('chat.delete', () => {
  test('the author deletes a message; it leaves history; deleting again is message_not_found', async () => {
    const bot = client(DEMO_TOKENS.bot);
    const ts = String((await bot.chat.postMessage({ channel: CH, text: 'card' })).ts);
    const r = await bot.chat.delete({ channel: CH, ts });
    assert.equal(r.ok, true);
    assert.equal(r.channel, CH);
    assert.equal(r.ts, ts);
    const history = await bot.conversations.history({ channel: CH });
    assert.equal(
      history.messages?.some((m) => m.ts === ts),
      false,
    );
    assert.equal((await platformError(bot.chat.delete({ channel: CH, ts }))).data.error, 'message_not_found');
    assert.equal(
      (await platformError(bot.chat.update({ channel: CH, ts, text: 'x' }))).data.error,
      'message_not_found',
    );
  });

  test('someone else’s message is cant_delete_message; unknown channel and missing args are refused', async () => {
    const bot = client(DEMO_TOKENS.bot);
    const alice = client(DEMO_TOKENS.alice);
    const ts = String((await alice.chat.postMessage({ channel: CH, text: 'mine' })).ts);
    assert.equal(
      (await platformError(bot.chat.delete({ channel: CH, ts }))).data.error,
      'cant_delete_message',
    );
    assert.equal(
      (await platformError(bot.chat.delete({ channel: 'C0NOWHERE1', ts }))).data.error,
      'channel_not_found',
    );
    const missing = await platformError(bot.apiCall('chat.delete', { channel: CH }));
    assert.equal(missing.data.error, 'invalid_arguments');
    assert.deepEqual(missing.data.response_metadata?.messages, ['[ERROR] missing required field: ts']);
    assert.equal((await alice.chat.delete({ channel: CH, ts })).ok, true);
  });

  test('deleting a reply lowers the parent’s reply_count; deleting a parent makes its thread unreachable', async () => {
    await control.seed({ app: { botCanReadChannelThreads: true } });
    const bot = client(DEMO_TOKENS.bot);
    const alice = client(DEMO_TOKENS.alice);
    const parent = String((await bot.chat.postMessage({ channel: CH, text: 'card' })).ts);
    const r1 = String((await alice.chat.postMessage({ channel: CH, text: 'r1', thread_ts: parent })).ts);
    await alice.chat.postMessage({ channel: CH, text: 'r2', thread_ts: parent });
    await alice.chat.delete({ channel: CH, ts: r1 });
    const thread = await bot.conversations.replies({ channel: CH, ts: parent });
    assert.deepEqual(
      thread.messages?.map((m) => m.text),
      ['card', 'r2'],
    );
    assert.equal(thread.messages?.[0]?.reply_count, 1);
    await bot.chat.delete({ channel: CH, ts: parent });
    assert.equal(
      (await platformError(bot.conversations.replies({ channel: CH, ts: parent }))).data.error,
      'thread_not_found',
    );
    const history = await bot.conversations.history({ channel: CH });
    assert.equal(
      history.messages?.some((m) => m.text === 'r2' || m.ts === parent),
      false,
    );
  });
});

describe('Block Kit', () => {
  const card = [
    { type: 'header', block_id: 'title', text: { type: 'plain_text', text: 'Fix login' } },
    {
      type: 'section',
      text: { type: 'mrkdwn', text: '*Status:* open' },
      fields: [{ type: 'mrkdwn', text: '*Assignee*\nAlice' }],
    },
    { type: 'context', elements: [{ type: 'mrkdwn', text: 'linear:ENG-1' }] },
    { type: 'divider' },
    {
      type: 'actions',
      elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open' }, url: 'https://x.invalid' }],
    },
  ];

  async function blocksError(blocks: unknown): Promise<{ error: string; messages: string[] }> {
    const e = await platformError(
      client(DEMO_TOKENS.bot).apiCall('chat.postMessage', { channel: CH, text: 'x', blocks }),
    );
    return { error: String(e.data.error), messages: e.data.response_metadata?.messages ?? [] };
  }

  test('valid blocks are stored and returned by postMessage, update, history and replies', async () => {
    await control.seed({ app: { botCanReadChannelThreads: true } });
    const bot = client(DEMO_TOKENS.bot);
    const r = await bot.chat.postMessage({ channel: CH, text: 'Fix login', blocks: card });
    assert.deepEqual(r.message?.blocks, card);
    const ts = String(r.ts);
    const history = await bot.conversations.history({ channel: CH, limit: 1 });
    assert.deepEqual(history.messages?.[0]?.blocks, card);
    const v2 = [{ type: 'section', text: { type: 'plain_text', text: 'closed' } }];
    const u = await bot.chat.update({ channel: CH, ts, text: 'Fix login', blocks: v2 });
    assert.deepEqual(u.message?.blocks, v2);
    const thread = await bot.conversations.replies({ channel: CH, ts });
    assert.deepEqual(thread.messages?.[0]?.blocks, v2);
  });

  test('a message with blocks and no text is accepted; a JSON body may carry blocks as an array', async () => {
    const r = await client(DEMO_TOKENS.bot).chat.postMessage({ channel: CH, blocks: card, text: '' });
    assert.equal(r.ok, true);
    assert.equal(r.message?.text, '');
    const raw = await rawCall('chat.postMessage', {
      headers: { authorization: `Bearer ${DEMO_TOKENS.bot}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: CH, text: 'json', blocks: card }),
    });
    assert.equal(raw.body['ok'], true);
    assert.deepEqual((raw.body['message'] as { blocks?: unknown }).blocks, card);
  });

  test('Block Kit limits: count, types, header, section, fields, context, block_id', async () => {
    const section = (text: string): object => ({ type: 'section', text: { type: 'mrkdwn', text } });
    const tooMany = await blocksError(Array.from({ length: 51 }, () => ({ type: 'divider' })));
    assert.equal(tooMany.error, 'invalid_blocks');
    assert.match(tooMany.messages[0] ?? '', /^\[ERROR\] .+ \[json-pointer:\/blocks\]$/);
    const fifty = await client(DEMO_TOKENS.bot).chat.postMessage({
      channel: CH,
      text: 'x',
      blocks: Array.from({ length: 50 }, () => ({ type: 'divider' })),
    });
    assert.equal(fifty.message?.blocks?.length, 50);

    const plain = (text: string): object => ({ type: 'plain_text', text });
    const cases: [string, unknown[], string][] = [
      ['not an object', ['divider'], '/blocks/0'],
      ['unknown type', [{ type: 'carousel' }], '/blocks/0/type'],
      ['header in mrkdwn', [{ type: 'header', text: { type: 'mrkdwn', text: 'h' } }], '/blocks/0/text/type'],
      ['header over 150', [{ type: 'header', text: plain('h'.repeat(151)) }], '/blocks/0/text/text'],
      ['section over 3000', [{ type: 'divider' }, section('s'.repeat(3001))], '/blocks/1/text/text'],
      ['section without text or fields', [{ type: 'section' }], '/blocks/0'],
      [
        'eleven fields',
        [{ type: 'section', fields: Array.from({ length: 11 }, () => plain('f')) }],
        '/blocks/0/fields',
      ],
      [
        'field over 2000',
        [{ type: 'section', fields: [plain('f'.repeat(2001))] }],
        '/blocks/0/fields/0/text',
      ],
      [
        'eleven context elements',
        [{ type: 'context', elements: Array.from({ length: 11 }, () => plain('c')) }],
        '/blocks/0/elements',
      ],
      [
        'text object of an unknown type',
        [{ type: 'section', text: { type: 'html', text: 'x' } }],
        '/blocks/0/text/type',
      ],
      ['empty text', [section('')], '/blocks/0/text/text'],
      ['block_id over 255', [{ type: 'divider', block_id: 'b'.repeat(256) }], '/blocks/0/block_id'],
      [
        'duplicate block_id',
        [
          { type: 'divider', block_id: 'same' },
          { type: 'divider', block_id: 'same' },
        ],
        '/blocks/1/block_id',
      ],
    ];
    for (const [what, blocks, pointer] of cases) {
      const e = await blocksError(blocks);
      assert.equal(e.error, 'invalid_blocks', what);
      assert.ok(
        e.messages.some((m) => m.startsWith('[ERROR] ') && m.endsWith(`[json-pointer:${pointer}]`)),
        `${what}: ${JSON.stringify(e.messages)}`,
      );
    }
    // Nothing refused was stored.
    const history = await client(DEMO_TOKENS.bot).conversations.history({ channel: CH });
    assert.equal(history.messages?.filter((m) => m.blocks !== undefined).length, 1);

    assert.equal((await blocksError('[{')).error, 'invalid_blocks_format');
    assert.equal((await blocksError('{"type":"divider"}')).error, 'invalid_blocks_format');
    const update = await platformError(
      client(DEMO_TOKENS.bot).chat.update({ channel: CH, ts: String(fifty.ts), blocks: [{ type: 'nope' }] }),
    );
    assert.equal(update.data.error, 'invalid_blocks');
  });
});

describe('metadata on reads', () => {
  test('chat.update with metadata replaces it; history and replies return it only with include_all_metadata', async () => {
    await control.seed({ app: { botCanReadChannelThreads: true } });
    const bot = client(DEMO_TOKENS.bot);
    const v1 = { event_type: 'lockstep_card', event_payload: { rev: 1 } };
    const v2 = { event_type: 'lockstep_card', event_payload: { rev: 2, link: 'lnk-1' } };
    const ts = String((await bot.chat.postMessage({ channel: CH, text: 'card', metadata: v1 })).ts);
    await bot.chat.update({ channel: CH, ts, text: 'card v2', metadata: v2 });
    const h = await bot.conversations.history({ channel: CH, limit: 1, include_all_metadata: true });
    assert.deepEqual(h.messages?.[0]?.metadata, v2);
    const reply = { event_type: 'lockstep_reply', event_payload: { marker: 'm-1' } };
    await bot.chat.postMessage({ channel: CH, text: 'status', thread_ts: ts, metadata: reply });
    const thread = await bot.conversations.replies({ channel: CH, ts, include_all_metadata: true });
    assert.deepEqual(
      thread.messages?.map((m) => m.metadata),
      [v2, reply],
    );
    const bare = await bot.conversations.replies({ channel: CH, ts });
    assert.deepEqual(
      bare.messages?.map((m) => m.metadata),
      [undefined, undefined],
    );
    // An update without metadata keeps the message's.
    await bot.chat.update({ channel: CH, ts, text: 'card v3' });
    const kept = await bot.conversations.history({ channel: CH, limit: 1, include_all_metadata: true });
    assert.deepEqual(kept.messages?.[0]?.metadata, v2);
  });
});

describe('reactions', () => {
  test('add and remove are stored per user and returned as reactions: [{name, users, count}]', async () => {
    const bot = client(DEMO_TOKENS.bot);
    const alice = client(DEMO_TOKENS.alice);
    const ts = String((await bot.chat.postMessage({ channel: CH, text: 'card' })).ts);
    assert.equal((await alice.reactions.add({ channel: CH, timestamp: ts, name: 'eyes' })).ok, true);
    await bot.reactions.add({ channel: CH, timestamp: ts, name: 'eyes' });
    await bot.reactions.add({ channel: CH, timestamp: ts, name: 'white_check_mark' });
    const h1 = await bot.conversations.history({ channel: CH, limit: 1 });
    assert.deepEqual(h1.messages?.[0]?.reactions, [
      { name: 'eyes', users: ['U0ALICE001', 'U0LOCKBOT1'], count: 2 },
      { name: 'white_check_mark', users: ['U0LOCKBOT1'], count: 1 },
    ]);
    await bot.reactions.remove({ channel: CH, timestamp: ts, name: 'white_check_mark' });
    await alice.reactions.remove({ channel: CH, timestamp: ts, name: 'eyes' });
    const h2 = await bot.conversations.history({ channel: CH, limit: 1 });
    assert.deepEqual(h2.messages?.[0]?.reactions, [{ name: 'eyes', users: ['U0LOCKBOT1'], count: 1 }]);
  });

  test('Slack’s reaction errors', async () => {
    const bot = client(DEMO_TOKENS.bot);
    const ts = String((await bot.chat.postMessage({ channel: CH, text: 'card' })).ts);
    await bot.reactions.add({ channel: CH, timestamp: ts, name: 'eyes' });
    const err = async (p: Promise<unknown>): Promise<string> => String((await platformError(p)).data.error);
    assert.equal(
      await err(bot.reactions.add({ channel: CH, timestamp: ts, name: 'eyes' })),
      'already_reacted',
    );
    assert.equal(
      await err(bot.reactions.add({ channel: CH, timestamp: ts, name: ':eyes:' })),
      'invalid_name',
    );
    assert.equal(
      await err(bot.reactions.add({ channel: CH, timestamp: '1000000000.000001', name: 'eyes' })),
      'message_not_found',
    );
    assert.equal(
      await err(bot.reactions.add({ channel: CH, timestamp: 'soon', name: 'eyes' })),
      'bad_timestamp',
    );
    assert.equal(
      await err(bot.apiCall('reactions.add', { channel: '', timestamp: ts, name: 'eyes' })),
      'no_item_specified',
    );
    assert.equal(await err(bot.apiCall('reactions.remove', { name: 'eyes' })), 'no_item_specified');
    assert.equal(
      await err(bot.reactions.remove({ channel: CH, timestamp: ts, name: 'tada' })),
      'no_reaction',
    );
    const missing = await platformError(bot.apiCall('reactions.add', { channel: CH, timestamp: ts }));
    assert.deepEqual(missing.data.response_metadata?.messages, ['[ERROR] missing required field: name']);
  });
});

describe('demo seed', () => {
  test('has the public eng-sync channel C0ENGSYNC1 beside the existing channels', async () => {
    const channels = demoSeed().channels ?? [];
    assert.deepEqual(
      channels.map((c) => [c.id, c.name, c.type]),
      [
        ['C0SANDBOX1', 'lockstep-demo', 'public'],
        ['C0SANDBOX2', 'eng-triage', 'public'],
        ['C0ENGSYNC1', 'eng-sync', 'public'],
      ],
    );
    const bot = client(DEMO_TOKENS.bot);
    const r = await bot.chat.postMessage({ channel: 'C0ENGSYNC1', text: 'card' });
    assert.equal(r.channel, 'C0ENGSYNC1');
    const byName = await bot.chat.postMessage({ channel: '#eng-sync', text: 'card 2' });
    assert.equal(byName.channel, 'C0ENGSYNC1');
  });
});
