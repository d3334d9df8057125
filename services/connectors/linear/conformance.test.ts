/**
 * Linear through the connector conformance suite (test/conformance/suite.ts), against the Linear
 * emulator (test infrastructure, not Linear). Linear publishes no signature test vector: the signed
 * request is a real HMAC-SHA256 of a fixture's raw bytes, the way Linear signs (Linear-Signature,
 * hex), inside its 60-second webhookTimestamp window.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LinearClient } from '@linear/sdk';
import { demoSeed, LINEAR_DEMO_TOKENS, startLinearEmulator } from '../../../test/emulators/linear/index.ts';
import { conformanceSuite } from '../../../test/conformance/suite.ts';
import { linearConfigSchema } from './config.ts';
import { linearConnector } from './index.ts';

const raw = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url));
const fixture = (name: string): unknown => JSON.parse(raw(name).toString('utf8'));
const offline = linearConfigSchema.parse({ apiKey: 'k', webhookSecret: 'lin_wh_conformance' });

function signed(name: string) {
  const rawBody = raw(name);
  const { webhookTimestamp } = JSON.parse(rawBody.toString('utf8')) as { webhookTimestamp: number };
  return {
    name,
    config: offline,
    request: {
      headers: {
        'linear-signature': createHmac('sha256', 'lin_wh_conformance').update(rawBody).digest('hex'),
        'linear-delivery': 'conformance-1',
      },
      rawBody,
      nowMs: webhookTimestamp + 1_000,
    },
  };
}

conformanceSuite({
  connector: linearConnector,
  signed: [signed('issue-create.json'), signed('comment-create.json')],
  payloads: [
    { name: 'issue-create.json', payload: fixture('issue-create.json'), events: 1, config: offline },
    { name: 'issue-update.json', payload: fixture('issue-update.json'), events: 1, config: offline },
    { name: 'issue-remove.json', payload: fixture('issue-remove.json'), events: 1, config: offline },
    { name: 'comment-create.json', payload: fixture('comment-create.json'), events: 1, config: offline },
    {
      name: 'issue-update-unsynced.json (only fields Lockstep does not sync)',
      payload: fixture('issue-update-unsynced.json'),
      events: 0,
      config: offline,
    },
  ],
  malformed: [
    {
      name: 'an Issue without data.id',
      payload: { action: 'create', type: 'Issue', data: {} },
      config: offline,
    },
    {
      name: 'a Comment whose id is a number',
      payload: { action: 'create', type: 'Comment', data: { id: 7 } },
      config: offline,
    },
  ],
  async start() {
    const emulator = await startLinearEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
    const apiUrl = `${emulator.url}/graphql`;
    const bot = new LinearClient({ apiKey: LINEAR_DEMO_TOKENS.bot, apiUrl });
    const viewer = await bot.viewer;
    const team = (await bot.teams()).nodes.find((t) => t.key === 'ENG');
    if (!team) throw new Error('the demo seed has no team ENG');
    const input = {
      apiKey: LINEAR_DEMO_TOKENS.bot,
      webhookSecret: 'unused',
      apiUrl,
      teams: ['ENG'],
    };
    const config = linearConfigSchema.parse(input);
    const alice = new LinearClient({ apiKey: LINEAR_DEMO_TOKENS.alice, apiUrl });
    return {
      emulator,
      config,
      withRequestTimeout: (requestTimeoutMs) => linearConfigSchema.parse({ ...input, requestTimeoutMs }),
      workspace: team.id,
      bot: { userId: viewer.id, token: LINEAR_DEMO_TOKENS.bot },
      async personCreates(title) {
        const made = await (await alice.createIssue({ teamId: team.id, title })).issue;
        if (!made) throw new Error('issueCreate returned no issue');
        return made.id;
      },
    };
  },
});
