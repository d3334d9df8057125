/**
 * Jira through the connector conformance suite (test/conformance/suite.ts), against the Jira
 * emulator (test infrastructure, not Jira). The signed requests are Atlassian's published vector
 * (secret "It's a Secret to Everybody", body "Hello World!") and a real HMAC of a fixture.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Version3Client } from 'jira.js';
import { DEMO_BOT_TOKEN, demoSeed, startJiraEmulator } from '../../../test/emulators/jira/index.ts';
import { conformanceSuite } from '../../../test/conformance/suite.ts';
import { jiraConfigSchema } from './config.ts';
import { jiraConnector } from './index.ts';

const raw = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url));
const fixture = (name: string): unknown => JSON.parse(raw(name).toString('utf8'));
const offline = (webhookSecret: string) =>
  jiraConfigSchema.parse({
    host: 'https://acme.atlassian.net',
    email: 'bot@example.com',
    apiToken: 't',
    webhookSecret,
    projects: ['PROJ'],
  });
const fixtures = offline('conformance-secret');
const SEARCH_LAG_MS = 300;

conformanceSuite({
  connector: jiraConnector,
  signed: [
    {
      name: "Atlassian's published vector",
      config: offline("It's a Secret to Everybody"),
      request: {
        headers: {
          'x-hub-signature': 'sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9',
        },
        rawBody: Buffer.from('Hello World!'),
        nowMs: 0,
      },
    },
    {
      name: 'issue-updated.json signed',
      config: fixtures,
      request: {
        headers: {
          'x-hub-signature': `sha256=${createHmac('sha256', 'conformance-secret').update(raw('issue-updated.json')).digest('hex')}`,
          'x-atlassian-webhook-identifier': 'conformance-1',
        },
        rawBody: raw('issue-updated.json'),
        nowMs: 0,
      },
    },
  ],
  payloads: [
    { name: 'issue-created.json', payload: fixture('issue-created.json'), events: 1, config: fixtures },
    { name: 'issue-updated.json', payload: fixture('issue-updated.json'), events: 1, config: fixtures },
    { name: 'comment-created.json', payload: fixture('comment-created.json'), events: 1, config: fixtures },
    {
      name: 'issue-updated-rank-only.json (only a field Lockstep does not sync)',
      payload: fixture('issue-updated-rank-only.json'),
      events: 0,
      config: fixtures,
    },
  ],
  malformed: [
    {
      name: 'an issue without its id',
      payload: { webhookEvent: 'jira:issue_updated', timestamp: 1, issue: { key: 'PROJ-1', fields: {} } },
      config: fixtures,
    },
  ],
  pollLagMs: SEARCH_LAG_MS + 10_000,
  async start() {
    const emulator = await startJiraEmulator({
      seed: demoSeed(),
      webhookTimeScale: 0.001,
      searchLagMs: SEARCH_LAG_MS,
    });
    const input = {
      host: emulator.url,
      email: 'lockstep-bot@example.com',
      apiToken: DEMO_BOT_TOKEN,
      webhookSecret: 'unused',
      projects: ['ENG'],
    };
    const config = jiraConfigSchema.parse(input);
    const alice = new Version3Client({
      host: emulator.url,
      authentication: { basic: { email: 'alice@example.com', apiToken: 'sandbox-jira-token-alice' } },
    });
    return {
      emulator,
      config,
      withRequestTimeout: (requestTimeoutMs) => jiraConfigSchema.parse({ ...input, requestTimeoutMs }),
      workspace: 'ENG',
      bot: { userId: '712020:sandbox-lockstep-bot', token: DEMO_BOT_TOKEN },
      async personCreates(title) {
        const made = await alice.issues.createIssue({
          fields: { project: { key: 'ENG' }, summary: title, issuetype: { name: 'Task' } },
        });
        return made.id;
      },
    };
  },
});
