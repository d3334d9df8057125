/**
 * Asana through the connector conformance suite (test/conformance/suite.ts), against the Asana
 * emulator (test infrastructure, not Asana). Asana publishes no signature test vector: the signed
 * requests are real HMAC-SHA256s of the fixtures' bytes, made here independently of verify.ts,
 * with the secret as a handshake would have taught it (`learnedSecrets`) and as configured.
 */
import Asana from 'asana';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DEMO_TOKENS, demoSeed, startAsanaEmulator } from '../../../test/emulators/asana/index.ts';
import { conformanceSuite } from '../../../test/conformance/suite.ts';
import { asanaConfigSchema } from './config.ts';
import { asanaConnector } from './index.ts';

const PROJECT = '1100000000000100';
const raw = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url));
const fixture = (name: string): unknown => JSON.parse(raw(name).toString('utf8'));
const offline = (webhookSecrets: string[] = []) =>
  asanaConfigSchema.parse({ accessToken: 't', webhookSecrets, projects: [PROJECT] });
const sign = (secret: string, body: Buffer) => createHmac('sha256', secret).update(body).digest('hex');

conformanceSuite({
  connector: asanaConnector,
  signed: [
    {
      name: 'webhook-events.json signed with a learned secret',
      config: offline(),
      request: {
        headers: { 'x-hook-signature': sign('learned-in-handshake', raw('webhooks/webhook-events.json')) },
        rawBody: raw('webhooks/webhook-events.json'),
        nowMs: 0,
        learnedSecrets: ['an-older-secret', 'learned-in-handshake'],
      },
    },
    {
      name: 'the heartbeat signed with a configured secret',
      config: offline(['configured-secret']),
      request: {
        headers: { 'x-hook-signature': sign('configured-secret', raw('webhook-heartbeat.json')) },
        rawBody: raw('webhook-heartbeat.json'),
        nowMs: 0,
      },
    },
  ],
  // Asana's webhooks guide: the handshake POST carries X-Hook-Secret; the receiver answers 200 (or
  // 204) with the same header, and Asana signs every later delivery with that secret.
  handshakes: [
    {
      name: 'the X-Hook-Secret handshake',
      config: offline(),
      request: {
        headers: { 'x-hook-secret': 'b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81' },
        rawBody: Buffer.alloc(0),
        nowMs: 0,
      },
      reply: {
        status: 200,
        headers: { 'X-Hook-Secret': 'b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81' },
        body: '',
      },
      learnedSecret: 'b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81',
    },
  ],
  payloads: [
    {
      name: 'expanded-created.json (two tasks and a comment as the emulator returned them)',
      payload: fixture('expanded-created.json'),
      events: 3,
      config: offline(),
    },
    {
      name: 'webhook-heartbeat.json',
      payload: fixture('webhook-heartbeat.json'),
      events: 0,
      config: offline(),
    },
  ],
  malformed: [
    {
      name: 'an expanded task without its gid',
      payload: {
        lockstepExpanded: 1,
        tasks: [{ name: 'no gid', memberships: [{ project: { gid: PROJECT } }] }],
        stories: [],
        deletedTasks: [],
        deletedStories: [],
        actors: {},
        created: [],
      },
      config: offline(),
    },
  ],
  async start() {
    const emulator = await startAsanaEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
    const input = { accessToken: DEMO_TOKENS.bot, baseUrl: emulator.apiUrl, projects: [PROJECT] };
    const config = asanaConfigSchema.parse(input);
    const c = new Asana.ApiClient();
    c.basePath = emulator.apiUrl;
    c.authentications.token.accessToken = DEMO_TOKENS.alice;
    const alice = new Asana.TasksApi(c);
    return {
      emulator,
      config,
      withRequestTimeout: (requestTimeoutMs) => asanaConfigSchema.parse({ ...input, requestTimeoutMs }),
      workspace: PROJECT,
      bot: { userId: '1100000000000010', token: DEMO_TOKENS.bot },
      async personCreates(title) {
        const made = (await alice.createTask({ data: { name: title, projects: [PROJECT] } })) as {
          data: { gid: string };
        };
        return made.data.gid;
      },
      deliveryNaming: (gid) => ({
        events: [
          {
            user: { gid: '1100000000000011', resource_type: 'user' },
            created_at: new Date().toISOString(),
            action: 'changed',
            resource: { gid, resource_type: 'task', resource_subtype: 'default_task' },
            parent: null,
            change: { field: 'name', action: 'changed' },
          },
        ],
      }),
    };
  },
});
