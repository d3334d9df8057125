/**
 * The Slack emulator's Events API: the url_verification handshake, signed event_callback
 * deliveries (checked here with an independent implementation of Slack's signing algorithm
 * against the raw bytes received), attribution of the acting user, Slack's retry headers, and
 * delivery faults. Writes go through @slack/web-api.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, describe, test } from 'node:test';
import { WebClient } from '@slack/web-api';
import { Ajv } from 'ajv';
import { EmulatorControl } from '../common/control-client.ts';
import { SPECS_DIR } from '../common/openapi.ts';
import { DEMO_TOKENS, demoSeed, startSlackEmulator, type RunningSlackEmulator } from './index.ts';
import { startReceiver, verifySlackRequest, type Received, type Receiver } from './receiver.ts';

const SECRET = 'test-signing-secret-5f1c';
const CH = 'C0SANDBOX1';

let emu: RunningSlackEmulator;
let control: EmulatorControl;
let rx: Receiver;

const ajv = new Ajv({ strict: false, allErrors: true });
const wrapperSchema = JSON.parse(
  readFileSync(new URL('slack/slack_common_event_wrapper_schema.json', SPECS_DIR), 'utf8'),
) as object;
// Only the wrapper is checked against a published schema: the AsyncAPI document's `message`
// payload was generated from a message_deleted sample and requires deleted_ts, subtype, hidden
// and previous_message, which no new message carries.
const validateWrapper = ajv.compile(wrapperSchema);

function client(token: string): WebClient {
  return new WebClient(token, {
    slackApiUrl: emu.apiUrl,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
  });
}

type Envelope = {
  event_id: string;
  type: string;
  team_id: string;
  api_app_id: string;
  token: string;
  authorizations: { user_id: string; is_bot: boolean }[];
  event: Record<string, unknown> & {
    message?: Record<string, unknown>;
    previous_message?: Record<string, unknown>;
  };
};

/** The envelope as the endpoint would parse it: from the raw bytes received. */
function envelope(r: Received | undefined): Envelope {
  assert.ok(r, 'expected a delivery');
  return JSON.parse(r.raw.toString('utf8')) as Envelope;
}

async function connect(): Promise<void> {
  await control.seed({ app: { requestUrl: rx.url, signingSecret: SECRET } });
  assert.equal(await emu.slack.verified(), 'verified');
}

before(async () => {
  // Slack's retry delays (1 s, 1 min, 5 min) compressed a thousandfold.
  emu = await startSlackEmulator({ webhookTimeScale: 0.001 });
  control = new EmulatorControl(emu.url);
});
after(() => emu.close());
beforeEach(async () => {
  await emu.kit.webhooks.idle();
  await rx?.close();
  rx = await startReceiver();
  await control.reset();
  await control.settings({ webhookTimeScale: 0.001 });
  await control.seed(demoSeed());
});
after(() => rx.close());

describe('request URL', () => {
  test('setting it sends a signed url_verification and needs the challenge echoed', async () => {
    await connect();
    const v = rx.received[0];
    assert.ok(v);
    assert.equal(v.json['type'], 'url_verification');
    assert.equal(v.json['token'], 'sandbox-verification-token');
    assert.equal(typeof v.json['challenge'], 'string');
    assert.equal(verifySlackRequest(SECRET, v), true);
    const state = await control.state<{ app: { requestUrlStatus: string } }>();
    assert.equal(state.app.requestUrlStatus, 'verified');
  });

  test('an endpoint that does not echo the challenge is not verified and gets no events', async () => {
    rx.behaviour = (r) =>
      r.json['type'] === 'url_verification' ? { status: 200, body: 'hello' } : undefined;
    await control.seed({ app: { requestUrl: rx.url, signingSecret: SECRET } });
    assert.equal(await emu.slack.verified(), 'failed');
    await client(DEMO_TOKENS.bot).chat.postMessage({ channel: CH, text: 'unseen' });
    await emu.kit.webhooks.idle();
    assert.equal(rx.events().length, 0);
    assert.deepEqual(await control.deliveries(), []);
  });

  test('a JSON answer {challenge} is accepted too', async () => {
    rx.behaviour = (r) =>
      r.json['type'] === 'url_verification'
        ? {
            status: 200,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ challenge: r.json['challenge'] }),
          }
        : undefined;
    await connect();
  });
});

describe('event_callback deliveries', () => {
  test('every change is delivered, signed over the raw body, in the published wrapper shape', async () => {
    await connect();
    const bot = client(DEMO_TOKENS.bot);
    const metadata = { event_type: 'lockstep_item', event_payload: { link_id: 'lnk-9' } };
    const posted = await bot.chat.postMessage({ channel: CH, text: 'Item', metadata });
    const events = await rx.waitForEvents(1);
    const r = events[0];
    assert.ok(r);
    assert.equal(verifySlackRequest(SECRET, r), true, 'signature must verify');
    assert.equal(r.headers['x-slack-retry-num'], undefined);
    assert.equal(validateWrapper(r.json), true, JSON.stringify(validateWrapper.errors));
    const env = envelope(r);
    assert.equal(env.type, 'event_callback');
    assert.equal(env.team_id, 'T0SANDBOX1');
    assert.equal(env.api_app_id, 'A0LOCKSTEP');
    assert.match(env.event_id, /^Ev[0-9A-Z]+$/);
    assert.deepEqual(
      env.authorizations.map((a) => [a.user_id, a.is_bot]),
      [['U0LOCKBOT1', true]],
    );
    assert.equal(env.event['type'], 'message');
    assert.equal(env.event['channel'], CH);
    assert.equal(env.event['ts'], posted.ts);
    assert.equal(env.event['event_ts'], posted.ts);
    assert.equal(env.event['text'], 'Item');
    assert.deepEqual(env.event['metadata'], metadata);
  });

  test('attribution: the bot’s writes are attributed to the bot, a person’s to that person', async () => {
    await connect();
    const bot = client(DEMO_TOKENS.bot);
    const alice = client(DEMO_TOKENS.alice);
    const parent = String((await bot.chat.postMessage({ channel: CH, text: 'Item' })).ts);
    const reply = String(
      (await alice.chat.postMessage({ channel: CH, text: 'comment', thread_ts: parent })).ts,
    );
    await alice.chat.update({ channel: CH, ts: reply, text: 'comment (edited)' });
    await bot.chat.update({ channel: CH, ts: parent, text: 'Item v2' });
    const events = (await rx.waitForEvents(4)).map((r) => envelope(r).event);

    const [post, replied, aliceEdit, botEdit] = events;
    assert.equal(post?.['user'], 'U0LOCKBOT1');
    assert.equal(post?.['bot_id'], 'B0LOCKBOT1');

    assert.equal(replied?.['user'], 'U0ALICE001');
    assert.equal(replied?.['bot_id'], undefined);
    assert.equal(replied?.['thread_ts'], parent);
    assert.equal(replied?.['parent_user_id'], 'U0LOCKBOT1');

    assert.equal(aliceEdit?.['subtype'], 'message_changed');
    assert.equal(aliceEdit?.message?.['text'], 'comment (edited)');
    assert.deepEqual((aliceEdit?.message?.['edited'] as { user: string }).user, 'U0ALICE001');
    assert.equal(aliceEdit?.previous_message?.['text'], 'comment');
    assert.equal(aliceEdit?.message?.['thread_ts'], parent);

    assert.equal(botEdit?.['subtype'], 'message_changed');
    assert.equal(botEdit?.message?.['bot_id'], 'B0LOCKBOT1');
    assert.deepEqual((botEdit?.message?.['edited'] as { user: string }).user, 'U0LOCKBOT1');
    // Every event is signed and has its own id.
    for (const r of rx.events()) assert.equal(verifySlackRequest(SECRET, r), true);
    assert.equal(new Set(rx.events().map((r) => r.json['event_id'])).size, 4);
  });

  test('a seeded person’s message is attributed to them', async () => {
    await connect();
    const alice = client(DEMO_TOKENS.alice);
    const me = await alice.auth.test();
    await alice.chat.postMessage({ channel: CH, text: 'hi' });
    const [r] = await rx.waitForEvents(1);
    assert.equal(envelope(r).event['user'], me.user_id);
  });
});

describe('retries', () => {
  test('a failed delivery is retried with X-Slack-Retry-Num/-Reason, same event, fresh valid signature', async () => {
    await connect();
    rx.behaviour = (r) =>
      r.json['type'] === 'event_callback' && !r.headers['x-slack-retry-num'] ? { status: 500 } : undefined;
    await client(DEMO_TOKENS.bot).chat.postMessage({ channel: CH, text: 'x' });
    const [first, retry] = await rx.waitForEvents(2);
    await emu.kit.webhooks.idle();
    assert.ok(first && retry);
    assert.equal(retry.headers['x-slack-retry-num'], '1');
    assert.equal(retry.headers['x-slack-retry-reason'], 'http_error');
    assert.equal(retry.json['event_id'], first.json['event_id']);
    assert.equal(retry.raw.equals(first.raw), true);
    assert.equal(verifySlackRequest(SECRET, retry), true);
    assert.equal(rx.events().length, 2);
    const log = await control.deliveries();
    assert.deepEqual(
      log.map((d) => [d.attempt, d.outcome, d.status]),
      [
        [0, 'failed', 500],
        [1, 'delivered', 200],
      ],
    );
  });

  test('an endpoint that keeps failing gets the first try plus three retries, then Slack gives up', async () => {
    await connect();
    rx.behaviour = (r) => (r.json['type'] === 'event_callback' ? { status: 502 } : undefined);
    await client(DEMO_TOKENS.bot).chat.postMessage({ channel: CH, text: 'x' });
    await rx.waitForEvents(4);
    await emu.kit.webhooks.idle();
    assert.deepEqual(
      rx.events().map((r) => r.headers['x-slack-retry-num'] ?? '0'),
      ['0', '1', '2', '3'],
    );
    // The delays grow (1 s, 1 min, 5 min, compressed 1000×): the last gap is the longest.
    const log = await control.deliveries();
    const gaps = log.slice(1).map((d, i) => d.atMs - (log[i]?.atMs ?? 0));
    assert.ok((gaps[2] ?? 0) > (gaps[0] ?? 0), `gaps ${gaps.join(',')}`);
  });

  test('a non-200 with x-slack-no-retry: 1 stops the retries', async () => {
    await connect();
    rx.behaviour = (r) =>
      r.json['type'] === 'event_callback' ? { status: 500, headers: { 'x-slack-no-retry': '1' } } : undefined;
    await client(DEMO_TOKENS.bot).chat.postMessage({ channel: CH, text: 'x' });
    await rx.waitForEvents(1);
    await emu.kit.webhooks.idle();
    assert.equal(rx.events().length, 1);
  });

  test('no answer within 3 s is a timeout, retried with reason http_timeout', async () => {
    await connect();
    rx.behaviour = (r) =>
      r.json['type'] === 'event_callback' && !r.headers['x-slack-retry-num']
        ? { status: 200, delayMs: 3_400 }
        : undefined;
    await client(DEMO_TOKENS.bot).chat.postMessage({ channel: CH, text: 'slow' });
    const [, retry] = await rx.waitForEvents(2, 8_000);
    assert.equal(retry?.headers['x-slack-retry-reason'], 'http_timeout');
    await emu.kit.webhooks.idle();
  });
});

describe('delivery faults', () => {
  test('drop, duplicate and reorder', async () => {
    await connect();
    const bot = client(DEMO_TOKENS.bot);
    await control.fault({ kind: 'webhook_drop', count: 1 });
    await bot.chat.postMessage({ channel: CH, text: 'dropped' });
    await control.fault({ kind: 'webhook_duplicate', count: 1, times: 2 });
    await bot.chat.postMessage({ channel: CH, text: 'twice' });
    await emu.kit.webhooks.idle();
    assert.deepEqual(
      rx.events().map((r) => envelope(r).event['text']),
      ['twice', 'twice'],
    );
    const [a, b] = rx.events();
    assert.equal(a?.json['event_id'], b?.json['event_id']);

    await control.fault({ kind: 'webhook_reorder', count: 2 });
    await bot.chat.postMessage({ channel: CH, text: 'first' });
    await bot.chat.postMessage({ channel: CH, text: 'second' });
    await emu.kit.webhooks.idle();
    assert.deepEqual(
      rx
        .events()
        .slice(2)
        .map((r) => envelope(r).event['text']),
      ['second', 'first'],
    );
    const log = await control.deliveries();
    assert.equal(log.filter((d) => d.outcome === 'dropped').length, 1);
  });
});

describe('deletions, metadata, blocks and reactions in events', () => {
  test('chat.delete delivers message_deleted with deleted_ts and the message as it was, metadata included', async () => {
    await connect();
    const bot = client(DEMO_TOKENS.bot);
    const metadata = { event_type: 'lockstep_card', event_payload: { link_id: 'lnk-3' } };
    const ts = String((await bot.chat.postMessage({ channel: CH, text: 'card', metadata })).ts);
    await bot.chat.delete({ channel: CH, ts });
    const [, deleted] = await rx.waitForEvents(2);
    assert.equal(validateWrapper(deleted?.json), true, JSON.stringify(validateWrapper.errors));
    assert.equal(verifySlackRequest(SECRET, deleted!), true);
    const ev = envelope(deleted).event;
    assert.equal(ev['type'], 'message');
    assert.equal(ev['subtype'], 'message_deleted');
    assert.equal(ev['hidden'], true);
    assert.equal(ev['channel'], CH);
    assert.equal(ev['deleted_ts'], ts);
    assert.match(String(ev['ts']), /^\d+\.\d{6}$/);
    assert.ok(Number(ev['ts']) > Number(ts), 'the event has its own, later ts');
    assert.equal(ev['event_ts'], ev['ts']);
    assert.equal(ev.previous_message?.['ts'], ts);
    assert.equal(ev.previous_message?.['text'], 'card');
    assert.equal(ev.previous_message?.['bot_id'], 'B0LOCKBOT1');
    assert.deepEqual(ev.previous_message?.['metadata'], metadata);
  });

  test('message_changed carries the new metadata in message and the old in previous_message; blocks travel too', async () => {
    await connect();
    const bot = client(DEMO_TOKENS.bot);
    const v1 = { event_type: 'lockstep_card', event_payload: { rev: 1 } };
    const v2 = { event_type: 'lockstep_card', event_payload: { rev: 2 } };
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*open*' } }];
    const ts = String((await bot.chat.postMessage({ channel: CH, text: 'card', metadata: v1, blocks })).ts);
    const blocks2 = [{ type: 'section', text: { type: 'mrkdwn', text: '*done*' } }];
    await bot.chat.update({ channel: CH, ts, text: 'card', metadata: v2, blocks: blocks2 });
    const [posted, changed] = (await rx.waitForEvents(2)).map((r) => envelope(r).event);
    assert.deepEqual(posted?.['blocks'], blocks);
    assert.equal(changed?.['subtype'], 'message_changed');
    assert.deepEqual(changed?.message?.['metadata'], v2);
    assert.deepEqual(changed?.previous_message?.['metadata'], v1);
    assert.deepEqual(changed?.message?.['blocks'], blocks2);
    assert.deepEqual(changed?.previous_message?.['blocks'], blocks);
  });

  test('reactions.add / reactions.remove deliver reaction_added / reaction_removed', async () => {
    await connect();
    const bot = client(DEMO_TOKENS.bot);
    const alice = client(DEMO_TOKENS.alice);
    const ts = String((await bot.chat.postMessage({ channel: CH, text: 'card' })).ts);
    await alice.reactions.add({ channel: CH, timestamp: ts, name: 'thumbsup' });
    await alice.reactions.remove({ channel: CH, timestamp: ts, name: 'thumbsup' });
    const events = await rx.waitForEvents(3);
    for (const r of events) {
      assert.equal(validateWrapper(r.json), true, JSON.stringify(validateWrapper.errors));
      assert.equal(verifySlackRequest(SECRET, r), true);
    }
    const [, added, removed] = events.map((r) => envelope(r).event);
    for (const [ev, type] of [
      [added, 'reaction_added'],
      [removed, 'reaction_removed'],
    ] as const) {
      assert.equal(ev?.['type'], type);
      assert.equal(ev?.['user'], 'U0ALICE001');
      assert.equal(ev?.['reaction'], 'thumbsup');
      assert.equal(ev?.['item_user'], 'U0LOCKBOT1');
      assert.deepEqual(ev?.['item'], { type: 'message', channel: CH, ts });
      assert.match(String(ev?.['event_ts']), /^\d+\.\d{6}$/);
    }
  });
});
