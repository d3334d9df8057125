/**
 * One end-to-end world per test file: the Linear and Jira emulators (and, with `asana: true`, the
 * Asana emulator as a third side of the flow: the hub; with `slack: true`, the Slack emulator's
 * channel #eng-sync as a side holding a card per item), driven by tests through the official SDKs,
 * a private Postgres database, private topic names, and the real pipeline processes (ingest,
 * reconciler, one egress per platform) started by the same launcher as `lockstep start`, against
 * the shared test stack's Kafka, registry, Postgres and Jaeger.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinearClient } from '@linear/sdk';
import Asana from 'asana';
import { WebClient } from '@slack/web-api';
import { Version3Client } from 'jira.js';
import type { Admin } from 'kafkajs';
import { afterEach } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import { StackError } from '../../deploy/local/process.ts';
import { boundConnectors, loadAppConfig, type AppConfig } from '../../services/app/config.ts';
import {
  killService,
  pipelineServices,
  preparePipeline,
  startPipeline,
  startService,
  stopPipeline,
  type PipelineOptions,
} from '../../services/app/launcher.ts';
import { demoStatusMap } from '../../services/app/sandbox-config.ts';
import { commandsTopic, createKafka } from '../../services/core/kafka/index.ts';
import { registerWebhook } from '../../services/ingest/register.ts';
import {
  DEMO_TOKENS as ASANA_TOKENS,
  demoSeed as asanaDemoSeed,
  startAsanaEmulator,
} from '../emulators/asana/index.ts';
import { EmulatorControl } from '../emulators/common/control-client.ts';
import type { RunningEmulator } from '../emulators/common/server.ts';
import {
  type JiraEmulator,
  demoSeed as jiraDemoSeed,
  startJiraEmulator,
  DEMO_BOT_TOKEN as JIRA_BOT_TOKEN,
} from '../emulators/jira/index.ts';
import {
  demoSeed as linearDemoSeed,
  LINEAR_DEMO_TOKENS,
  startLinearEmulator,
} from '../emulators/linear/index.ts';
import {
  DEMO_TOKENS as SLACK_TOKENS,
  demoSeed as slackDemoSeed,
  startSlackEmulator,
  type RunningSlackEmulator,
} from '../emulators/slack/index.ts';
import { testStackEndpoints } from '../stack/env.ts';
import { freePort, freePortRun } from '../support/ports.ts';

export const LINEAR_WEBHOOK_SECRET = 'e2e-linear-webhook-secret';
export const JIRA_WEBHOOK_SECRET = 'e2e-jira-webhook-secret';
export const JIRA_EMAIL = 'lockstep-bot@example.com';
/** The Asana emulator's demo project ("Engineering (sandbox)": sections Backlog, To do, In progress, Done). */
export const ASANA_PROJECT = '1100000000000100';
/** The Slack emulator's card channel #eng-sync, and its bot user and signing secret (demo seed). */
export const SLACK_CHANNEL = 'C0ENGSYNC1';
export const SLACK_BOT_USER = 'U0LOCKBOT1';
export const SLACK_SIGNING_SECRET = slackDemoSeed().app?.signingSecret ?? '';

export interface E2EOptions {
  /** Field policies of the flow (default: last-write-wins everywhere). */
  fields?: Record<string, unknown>;
  /** Poll interval; 0 = webhooks only. */
  pollIntervalMs?: number;
  /** Webhook retry delay scale for the emulators (1 = real delays). */
  webhookTimeScale?: number;
  egress?: Record<string, unknown>;
  /** The `audit` section (retention, prune interval). */
  audit?: Record<string, unknown>;
  /** Asana's project as a third side of the flow (after Linear and Jira). */
  asana?: boolean;
  /** Slack's channel #eng-sync as the last side of the flow: one card message per item. */
  slack?: boolean;
  /** `connectors.slack` settings besides the world's (e.g. `statusReplies`). */
  slackConfig?: Record<string, unknown>;
  /** The `people:` overrides (core/people). */
  people?: Record<string, string>[];
  /** More of the `reconciler` section (its port is the world's): e.g. `verifyEvery`. */
  reconciler?: Record<string, unknown>;
  /**
   * The flow's `notes` (egress/notes.ts). Default here `none`, unlike the product's `comment`: the
   * emulated Jira workflow has no transition back to To Do, so many worlds meet a status Lockstep
   * cannot carry, and tests that count writes or comments exactly would count the note too.
   * `test/e2e/notes.test.ts` asks for `comment`.
   */
  notes?: 'comment' | 'none';
  /**
   * Runs the services instead of the launcher (`lockstep start`'s processes): the image test runs
   * them as containers. `kill` and `restart` are the launcher's and refuse under a runner.
   */
  runner?: ServiceRunner;
}

/** Prepares (migrations, topics, schemas) and starts every service, each ready; stops them all. */
export interface ServiceRunner {
  start(config: AppConfig, configFile: string): Promise<void>;
  stop(): Promise<void>;
}

export interface E2E {
  id: string;
  config: AppConfig;
  pipeline: PipelineOptions;
  linearEmu: RunningEmulator;
  jiraEmu: RunningEmulator & { jira: JiraEmulator };
  linearControl: EmulatorControl;
  jiraControl: EmulatorControl;
  /** With `asana: true` only. */
  asanaEmu?: RunningEmulator;
  asanaControl?: EmulatorControl;
  /** SDK API objects acting as a person on the Asana emulator (with `asana: true` only). */
  asanaAs(person: 'alice' | 'bob' | 'carol'): {
    tasks: Asana.TasksApi;
    stories: Asana.StoriesApi;
    sections: Asana.SectionsApi;
  };
  /** With `slack: true` only. */
  slackEmu?: RunningSlackEmulator;
  slackControl?: EmulatorControl;
  /** `@slack/web-api` acting as a person (their user token) or the bot (with `slack: true` only). */
  slackAs(person: 'alice' | 'bob' | 'carol' | 'bot'): WebClient;
  /** Every emulator of the world, by platform (for pending work and quiet windows). */
  emulators: readonly (readonly [string, RunningEmulator])[];
  /** SDK clients acting as people (not the bot). */
  linearAs(person: 'alice' | 'bob' | 'carol'): LinearClient;
  jiraAs(person: 'alice' | 'bob' | 'carol'): Version3Client;
  db: pg.Pool;
  /** A Kafka admin client for the test's own checks (connected on first use, closed by stop). */
  admin(): Promise<Admin>;
  kill(service: string): Promise<void>;
  restart(service: string): Promise<void>;
  stop(): Promise<void>;
}

/** Emulator seeds for tests: the demo people and team/project ENG, and no items. */
function seeds() {
  const linear = { ...linearDemoSeed(), issues: [], comments: [] };
  const jira = {
    ...jiraDemoSeed(),
    projects: [{ key: 'ENG', name: 'Engineering (emulated)', id: '10000', lead: '712020:sandbox-alice' }],
    issues: [],
  };
  return { linear, jira };
}

export async function startE2E(opts: E2EOptions = {}): Promise<E2E> {
  const stack = testStackEndpoints();
  const id = randomBytes(4).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), `lockstep-e2e-${id}-`));
  const scale = opts.webhookTimeScale ?? 0.001;
  const s = seeds();
  const linearEmu = await startLinearEmulator({ webhookTimeScale: scale, seed: s.linear });
  const jiraEmu = await startJiraEmulator({ webhookTimeScale: scale, seed: s.jira });
  const asanaEmu = opts.asana
    ? await startAsanaEmulator({
        webhookTimeScale: scale,
        seed: { ...asanaDemoSeed(), tasks: [], stories: [] },
      })
    : undefined;
  const slackEmu = opts.slack
    ? await startSlackEmulator({ webhookTimeScale: scale, seed: { ...slackDemoSeed(), messages: [] } })
    : undefined;
  const pipeline: PipelineOptions = {
    stateDir: join(dir, 'pipeline'),
    configFile: join(dir, 'lockstep.yaml'),
    env: {},
    log: () => undefined,
  };
  try {
    return await startWorld(opts, { stack, id, dir, linearEmu, jiraEmu, asanaEmu, slackEmu, pipeline });
  } catch (err) {
    // A world that failed to start must not keep the test file alive (open emulator servers) or
    // leave its services running. Its dir goes, so the failing service's last log lines go into
    // the error (a CI run keeps nothing else).
    const log = err instanceof StackError ? err.logFile : undefined;
    if (log && existsSync(log)) {
      const tail = readFileSync(log, 'utf8').split('\n').slice(-40).join('\n');
      (err as Error).message += `\n--- last lines of ${log} ---\n${tail}`;
    }
    await (opts.runner ? opts.runner.stop() : stopPipeline(pipeline)).catch(() => undefined);
    await linearEmu.close().catch(() => undefined);
    await jiraEmu.close().catch(() => undefined);
    await asanaEmu?.close().catch(() => undefined);
    await slackEmu?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function startWorld(
  opts: E2EOptions,
  w: {
    stack: ReturnType<typeof testStackEndpoints>;
    id: string;
    dir: string;
    linearEmu: RunningEmulator;
    jiraEmu: RunningEmulator & { jira: JiraEmulator };
    asanaEmu: (RunningEmulator & { apiUrl: string }) | undefined;
    slackEmu: RunningSlackEmulator | undefined;
    pipeline: PipelineOptions;
  },
): Promise<E2E> {
  const { stack, id, dir, linearEmu, jiraEmu, asanaEmu, slackEmu, pipeline } = w;

  // A private database per world: reconciler links and egress idempotency must not leak between tests.
  const database = `lockstep_e2e_${id}`;
  const admin = new pg.Client({ connectionString: stack.postgres.url });
  await admin.connect();
  await admin.query(`create database ${database}`);
  await admin.end();
  const pgUrl = new URL(stack.postgres.url);
  pgUrl.pathname = `/${database}`;

  // Egress ports are base + platform index in the registry (linear 0, jira 1, asana 2, slack 3).
  const [ingestPort, reconcilerPort, egressBase] = [
    await freePort(),
    await freePort(),
    await freePortRun(slackEmu ? 4 : asanaEmu ? 3 : 2),
  ];
  const prefix = `e2e-${id}`;
  const doc = {
    kafka: {
      brokers: [stack.kafka.bootstrap],
      clientId: prefix,
      partitions: 3,
      topics: {
        changes: `${prefix}.changes`,
        commandsPrefix: `${prefix}.commands.`,
        outcomes: `${prefix}.outcomes`,
        conflicts: `${prefix}.conflicts`,
        dlq: `${prefix}.dlq`,
        audit: `${prefix}.audit`,
      },
    },
    registry: { url: stack.registry.url },
    postgres: { url: pgUrl.toString() },
    telemetry: {
      otlpHttpEndpoint: `${stack.jaeger.otlpHttp.replace(/\/$/, '')}/v1/traces`,
      serviceName: prefix,
    },
    logLevel: 'info',
    connectors: {
      linear: {
        apiKey: LINEAR_DEMO_TOKENS.bot,
        webhookSecret: LINEAR_WEBHOOK_SECRET,
        apiUrl: `${linearEmu.url}/graphql`,
        teams: ['ENG'],
      },
      jira: {
        host: jiraEmu.url,
        email: JIRA_EMAIL,
        apiToken: JIRA_BOT_TOKEN,
        webhookSecret: JIRA_WEBHOOK_SECRET,
        projects: ['ENG'],
      },
      ...(asanaEmu && {
        asana: {
          accessToken: ASANA_TOKENS.bot,
          baseUrl: asanaEmu.apiUrl,
          projects: [ASANA_PROJECT],
        },
      }),
      ...(slackEmu && {
        slack: {
          botToken: SLACK_TOKENS.bot,
          // Alice's user token reads threads (Slack lets bot tokens read threads only in DMs).
          userToken: SLACK_TOKENS.alice,
          signingSecret: SLACK_SIGNING_SECRET,
          apiUrl: slackEmu.apiUrl,
          channels: [SLACK_CHANNEL],
          ...opts.slackConfig,
        },
      }),
    },
    flows: [
      {
        id: 'eng',
        sides: [
          { platform: 'linear', workspace: 'ENG' },
          { platform: 'jira', workspace: 'ENG' },
          ...(asanaEmu ? [{ platform: 'asana', workspace: ASANA_PROJECT }] : []),
          ...(slackEmu ? [{ platform: 'slack', workspace: SLACK_CHANNEL, entityType: 'message' }] : []),
        ],
        fields: opts.fields ?? { default: 'last-write-wins' },
        // The emulators' status names (Asana: no Canceled section, so a canceled item is left where it
        // is there, reported as unresolvable, as Jira's missing Backlog is).
        statusMap: demoStatusMap(['linear', 'jira', ...(asanaEmu ? ['asana'] : [])]),
        notes: opts.notes ?? 'none',
      },
    ],
    ingest: { port: ingestPort, pollIntervalMs: opts.pollIntervalMs ?? 0 },
    reconciler: { port: reconcilerPort, ...opts.reconciler },
    egress: { port: egressBase, maxAttempts: 6, backoffBaseMs: 100, backoffMaxMs: 2000, ...opts.egress },
    ...(opts.audit && { audit: opts.audit }),
    ...(opts.people && { people: opts.people }),
  };
  const configFile = pipeline.configFile;
  writeFileSync(configFile, stringify(doc));
  const config = loadAppConfig(configFile, {});
  if (opts.runner) await opts.runner.start(config, configFile);
  else {
    await preparePipeline(config, () => undefined);
    await startPipeline(pipeline, config);
  }

  const ingestUrl = `http://127.0.0.1:${ingestPort}`;
  const secrets: Record<string, string | null> = {
    linear: LINEAR_WEBHOOK_SECRET,
    jira: JIRA_WEBHOOK_SECRET,
    asana: null, // learned in the handshake, inside the registration window
  };
  for (const [platform, c] of boundConnectors(config)) {
    // Slack's Request URL is an app setting (the emulator's seed), answered by ingest's url_verification.
    if (platform === 'slack') continue;
    await registerWebhook(c, {
      url: `${ingestUrl}/webhooks/${platform}`,
      secret: secrets[platform] ?? null,
      postgresUrl: pgUrl.toString(),
    });
  }

  if (slackEmu) {
    await new EmulatorControl(slackEmu.url).seed({ app: { requestUrl: `${ingestUrl}/webhooks/slack` } });
    const status = await slackEmu.slack.verified();
    if (status !== 'verified') throw new Error(`Slack's url_verification of ingest ended ${status}`);
  }

  const db = new pg.Pool({ connectionString: pgUrl.toString(), max: 2 });
  const people = { alice: 'alice', bob: 'bob', carol: 'carol' } as const;
  let kafkaAdmin: Promise<Admin> | undefined;
  return {
    id,
    config,
    pipeline,
    linearEmu,
    jiraEmu,
    linearControl: new EmulatorControl(linearEmu.url),
    jiraControl: new EmulatorControl(jiraEmu.url),
    ...(asanaEmu && { asanaEmu, asanaControl: new EmulatorControl(asanaEmu.url) }),
    asanaAs(p) {
      if (!asanaEmu) throw new Error('asanaAs: this world has no Asana side (startE2E({ asana: true }))');
      const c = new Asana.ApiClient();
      c.basePath = asanaEmu.apiUrl;
      c.authentications.token.accessToken = ASANA_TOKENS[people[p]];
      return {
        tasks: new Asana.TasksApi(c),
        stories: new Asana.StoriesApi(c),
        sections: new Asana.SectionsApi(c),
      };
    },
    ...(slackEmu && { slackEmu, slackControl: new EmulatorControl(slackEmu.url) }),
    slackAs(p) {
      if (!slackEmu) throw new Error('slackAs: this world has no Slack side (startE2E({ slack: true }))');
      return new WebClient(SLACK_TOKENS[p], {
        slackApiUrl: slackEmu.apiUrl,
        rejectRateLimitedCalls: true,
        retryConfig: { retries: 0 },
      });
    },
    emulators: [
      ['linear', linearEmu],
      ['jira', jiraEmu],
      ...(asanaEmu ? [['asana', asanaEmu] as const] : []),
      ...(slackEmu ? [['slack', slackEmu] as const] : []),
    ],
    linearAs: (p) =>
      new LinearClient({ apiKey: LINEAR_DEMO_TOKENS[people[p]], apiUrl: `${linearEmu.url}/graphql` }),
    jiraAs: (p) =>
      new Version3Client({
        host: jiraEmu.url,
        authentication: { basic: { email: `${p}@example.com`, apiToken: `sandbox-jira-token-${p}` } },
      }),
    db,
    admin() {
      kafkaAdmin ??= (async () => {
        const a = createKafka(config.kafka).kafka.admin();
        await a.connect();
        return a;
      })();
      return kafkaAdmin;
    },
    async kill(service) {
      if (opts.runner)
        throw new Error(`killing ${service}: the services run under a runner, not the launcher`);
      await killService(pipeline, service);
    },
    async restart(service) {
      if (opts.runner)
        throw new Error(`restarting ${service}: the services run under a runner, not the launcher`);
      const spec = pipelineServices(config).find((x) => x.name === service);
      if (!spec) throw new Error(`restarting ${service}: no such service`);
      await startService(pipeline, config, spec);
    },
    async stop() {
      await (opts.runner ? opts.runner.stop() : stopPipeline(pipeline));
      if (kafkaAdmin) await (await kafkaAdmin).disconnect();
      await db.end();
      await linearEmu.close();
      await jiraEmu.close();
      await asanaEmu?.close();
      await slackEmu?.close();
      // Kept after a failed test, or always with LOCKSTEP_E2E_KEEP_LOGS=1.
      if (aTestFailed || process.env['LOCKSTEP_E2E_KEEP_LOGS'])
        process.stderr.write(`[e2e] world ${id} kept in ${dir} (config, pipeline/logs)\n`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}

// A test of this file failed: its world's dir (config, service logs) is kept and named, so the
// failure of a fresh-clone CI run can be read afterwards, not only when it was asked for.
let aTestFailed = false;
afterEach((t) => {
  if ((t as { passed?: boolean }).passed === false) aTestFailed = true;
});

/** Polls `probe` until it returns a value (not undefined/false) or the timeout passes. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `waiting for ${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`,
  );
}

/**
 * What the pipeline still has to do, one line each (empty: idle): records a consumer group has not
 * committed (the reconciler on changes and outcomes, each egress on its commands), outbox rows not
 * yet published, webhooks an emulator is still delivering. Every step of a sync shows in one of
 * them until the next step shows: an emulator queues the webhook before it answers the write,
 * ingest answers it after the produce, the reconciler commits its offset after the transaction
 * that wrote the outbox rows, the relay marks a row sent after its produce, and egress commits
 * after its outcome is published. Also pending: Jira's search not yet showing the last write
 * (the emulator's `searchLagMs`, as Jira Cloud's search lags), so tests may read through search.
 */
export async function pendingWork(e: E2E): Promise<string[]> {
  const t = e.config.kafka.topics;
  const clientId = e.config.kafka.clientId;
  const groups: [string, string[]][] = [
    [`${clientId}-reconciler`, [t.changes, t.outcomes]],
    ...[...boundConnectors(e.config).keys()].map((p): [string, string[]] => [
      `${clientId}-egress-${p}`,
      [commandsTopic(t, p)],
    ]),
  ];
  const pending: string[] = [];
  const admin = await e.admin();
  for (const [groupId, topics] of groups) {
    const committed = await admin.fetchOffsets({ groupId, topics });
    for (const topic of topics) {
      const parts = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const o of await admin.fetchTopicOffsets(topic)) {
        const c = parts.find((p) => p.partition === o.partition)?.offset ?? '-1';
        const at = c === '-1' ? BigInt(o.low) : BigInt(c);
        if (at < BigInt(o.high)) pending.push(`${groupId}: ${topic}[${o.partition}] at ${at} of ${o.high}`);
      }
    }
  }
  const outbox = await e.db.query<{ n: number }>(
    'select count(*)::int as n from reconciler_outbox where sent_at is null',
  );
  if (outbox.rows[0]!.n > 0) pending.push(`${outbox.rows[0]!.n} outbox rows unsent`);
  const notes = await e.db.query<{ n: number }>(
    "select count(*)::int as n from item_notes where status = 'pending'",
  );
  if (notes.rows[0]!.n > 0) pending.push(`${notes.rows[0]!.n} notes not yet posted`);
  for (const [name, emu] of e.emulators)
    if (emu.kit.webhooks.inFlightCount > 0)
      pending.push(`${name}: ${emu.kit.webhooks.inFlightCount} webhooks in flight`);
  const behind = e.jiraEmu.jira.searchIndexBehindMs();
  if (behind > 0) pending.push(`jira: search sees the last write in ${behind} ms`);
  return pending;
}

/**
 * Waits until the pipeline has settled: nothing pending (see `pendingWork`) at the start and the
 * end of a `quietMs` window in which neither emulator answered a request. The window only
 * confirms; the condition is the pipeline's own state, so a loaded machine makes this slower,
 * never wrong.
 */
export async function settled(e: E2E, quietMs = 500, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const count = () => e.emulators.reduce((n, [, emu]) => n + emu.ledger.list().length, 0);
  let pending: string[] = [];
  while (Date.now() < deadline) {
    pending = await pendingWork(e);
    if (pending.length === 0) {
      const before = count();
      await new Promise((r) => setTimeout(r, quietMs));
      pending = await pendingWork(e);
      if (pending.length === 0 && count() === before) return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `waiting for the pipeline to settle: still busy after ${timeoutMs} ms (${pending.join('; ') || 'API calls still happening'})`,
  );
}
