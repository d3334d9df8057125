/**
 * Slack through the connector conformance suite (test/conformance/suite.ts), against the Slack
 * emulator (test infrastructure, not Slack). The item is a card message (entityType `message`);
 * its comments are thread replies. Signatures: Slack's documented signing example (a form body),
 * and the JSON fixtures signed here independently of verify.ts.
 */
import { WebClient } from '@slack/web-api';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DEMO_TOKENS, demoSeed, startSlackEmulator } from '../../../test/emulators/slack/index.ts';
import { conformanceSuite } from '../../../test/conformance/suite.ts';
import { entityState } from '../types.ts';
import { createSlackApplier } from './apply.ts';
import { slackConfigSchema } from './config.ts';
import { slackConnector } from './index.ts';
import { parseMessageId } from './model.ts';

const CHANNEL = 'C0ENGSYNC1';
const FIXTURE_CHANNEL = 'C0G9QF9GZ';
const BOT = 'U0LOCKBOT1';
const raw = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url));
const fixture = (name: string): unknown => JSON.parse(raw(name).toString('utf8'));
const offline = (signingSecret = 's', channels = [FIXTURE_CHANNEL]) =>
  slackConfigSchema.parse({ botToken: 't', userToken: 'u', signingSecret, channels, botUserId: 'U0G9QF9C6' });
const sign = (secret: string, ts: string, body: Buffer) =>
  `v0=${createHmac('sha256', secret).update(`v0:${ts}:`).update(body).digest('hex')}`;
const signedJson = (name: string, secret: string, nowS: number) => ({
  headers: {
    'x-slack-request-timestamp': String(nowS),
    'x-slack-signature': sign(secret, String(nowS), raw(name)),
  },
  rawBody: raw(name),
  nowMs: nowS * 1000 + 1500,
});

// docs.slack.dev/authentication/verifying-requests-from-slack: the worked example.
const DOC_BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';

const challenge = (fixture('url_verification.json') as { challenge: string }).challenge;

conformanceSuite({
  connector: slackConnector,
  itemType: 'message',
  signed: [
    {
      name: "Slack's documented signing example",
      config: offline('8f742231b10e8888abcd99yyyzzz85a5'),
      request: {
        headers: {
          'x-slack-request-timestamp': '1531420618',
          'x-slack-signature': 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
        },
        rawBody: Buffer.from(DOC_BODY),
        nowMs: 1531420618_000,
      },
    },
    {
      name: 'event_callback.json signed with the signing secret',
      config: offline('conformance-secret'),
      request: signedJson('event_callback.json', 'conformance-secret', 1_777_700_000),
    },
  ],
  handshakes: [
    {
      name: "url_verification.json (Slack's example), signed",
      config: offline('conformance-secret'),
      request: signedJson('url_verification.json', 'conformance-secret', 1_777_700_000),
      reply: { status: 200, headers: { 'content-type': 'text/plain' }, body: challenge },
    },
  ],
  payloads: [
    {
      name: "event_callback.json (a person's message in the channel: not an item)",
      payload: fixture('event_callback.json'),
      events: 0,
      config: offline(),
    },
    {
      name: 'event_callback-thread-reply.json (a reply under a card: one comment)',
      payload: fixture('event_callback-thread-reply.json'),
      events: 1,
      config: offline(),
    },
    {
      name: 'event_callback-card-edited.json (our card edited: one message event, our own)',
      payload: fixture('event_callback-card-edited.json'),
      events: 1,
      config: offline(),
    },
    {
      name: 'url_verification.json (answered by the handshake: no events)',
      payload: fixture('url_verification.json'),
      events: 0,
      config: offline(),
    },
  ],
  malformed: [
    {
      name: 'a message event without its ts',
      payload: {
        type: 'event_callback',
        event_id: 'Ev1',
        event: { type: 'message', channel: FIXTURE_CHANNEL, user: 'U1', text: 'x', thread_ts: '1.000001' },
      },
      config: offline(),
    },
  ],
  async start() {
    const emulator = await startSlackEmulator({
      seed: { ...demoSeed(), messages: [] },
      webhookTimeScale: 0.001,
    });
    const input = {
      botToken: DEMO_TOKENS.bot,
      userToken: DEMO_TOKENS.alice,
      signingSecret: 'unused',
      apiUrl: emulator.apiUrl,
      channels: [CHANNEL],
      botUserId: BOT,
    };
    const config = slackConfigSchema.parse(input);
    const bob = new WebClient(DEMO_TOKENS.bob, { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 } });
    const applier = createSlackApplier({ config, botUserId: BOT });
    return {
      emulator,
      config,
      withRequestTimeout: (requestTimeoutMs) => slackConfigSchema.parse({ ...input, requestTimeoutMs }),
      workspace: CHANNEL,
      bot: { userId: BOT, token: DEMO_TOKENS.bot },
      // A person's new item on Slack is a reply in a card's thread (top-level messages are not items).
      async personCreates(title) {
        const card = await applier.apply({
          commandId: `conf-card-${Date.now()}`,
          linkId: 'conf-link',
          flowId: 'conformance',
          platform: 'slack',
          workspace: CHANNEL,
          action: 'create',
          entityType: 'message',
          targetId: null,
          parentId: null,
          fields: entityState({ title: 'Conformance: a card' }),
          base: null,
          marker: `conf-card-${Math.random()}`,
          causedBy: null,
          cause: null,
          createdAtMs: Date.now(),
          unresolved: [],
        });
        const reply = await bob.chat.postMessage({
          channel: CHANNEL,
          thread_ts: parseMessageId(card.targetId)!.ts,
          text: title,
        });
        return `${CHANNEL}:${reply.ts}`;
      },
    };
  },
});
