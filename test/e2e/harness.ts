/**
 * One end-to-end world per test file: the Linear and Jira emulators (driven by tests through the
 * official SDKs), a private Postgres database, private topic names, and the real pipeline
 * processes (ingest, reconciler, egress-linear, egress-jira) started by the same launcher as
 * `lockstep start`, against the shared test stack's Kafka, registry, Postgres and Jaeger.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinearClient } from '@linear/sdk';
import { Version3Client } from 'jira.js';
import pg from 'pg';
import { stringify } from 'yaml';
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
import { DEMO_STATUS_MAP } from '../../services/app/sandbox-config.ts';
import { EmulatorControl } from '../emulators/common/control-client.ts';
import type { RunningEmulator } from '../emulators/common/server.ts';
import {
  demoSeed as jiraDemoSeed,
  startJiraEmulator,
  DEMO_BOT_TOKEN as JIRA_BOT_TOKEN,
} from '../emulators/jira/index.ts';
import {
  demoSeed as linearDemoSeed,
  LINEAR_DEMO_TOKENS,
  startLinearEmulator,
} from '../emulators/linear/index.ts';
import { testStackEndpoints } from '../stack/env.ts';

export const LINEAR_WEBHOOK_SECRET = 'e2e-linear-webhook-secret';
export const JIRA_WEBHOOK_SECRET = 'e2e-jira-webhook-secret';
export const JIRA_EMAIL = 'lockstep-bot@example.com';

export interface E2EOptions {
  /** Field policies of the flow (default: last-write-wins everywhere). */
  fields?: Record<string, unknown>;
  /** Poll interval; 0 = webhooks only. */
  pollIntervalMs?: number;
  /** Webhook retry delay scale for the emulators (1 = real delays). */
  webhookTimeScale?: number;
  egress?: Record<string, unknown>;
}

export interface E2E {
  id: string;
  config: AppConfig;
  pipeline: PipelineOptions;
  linearEmu: RunningEmulator;
  jiraEmu: RunningEmulator;
  linearControl: EmulatorControl;
  jiraControl: EmulatorControl;
  /** SDK clients acting as people (not the bot). */
  linearAs(person: 'alice' | 'bob' | 'carol'): LinearClient;
  jiraAs(person: 'alice' | 'bob' | 'carol'): Version3Client;
  db: pg.Pool;
  kill(service: string): Promise<void>;
  restart(service: string): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A free port whose successor is free too: egress takes base + platform index (linear 0, jira 1). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p < 65535 && (await portFree(p + 1))) return p;
  }
  throw new Error('finding two adjacent free ports for egress: none in 50 tries');
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
  const pipeline: PipelineOptions = {
    stateDir: join(dir, 'pipeline'),
    configFile: join(dir, 'lockstep.yaml'),
    env: {},
    log: () => undefined,
  };
  try {
    return await startWorld(opts, { stack, id, dir, linearEmu, jiraEmu, pipeline });
  } catch (err) {
    // A world that failed to start must not keep the test file alive (open emulator servers) or
    // leave its services running.
    await stopPipeline(pipeline).catch(() => undefined);
    await linearEmu.close().catch(() => undefined);
    await jiraEmu.close().catch(() => undefined);
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
    jiraEmu: RunningEmulator;
    pipeline: PipelineOptions;
  },
): Promise<E2E> {
  const { stack, id, dir, linearEmu, jiraEmu, pipeline } = w;

  // A private database per world: reconciler links and egress idempotency must not leak between tests.
  const database = `lockstep_e2e_${id}`;
  const admin = new pg.Client({ connectionString: stack.postgres.url });
  await admin.connect();
  await admin.query(`create database ${database}`);
  await admin.end();
  const pgUrl = new URL(stack.postgres.url);
  pgUrl.pathname = `/${database}`;

  const [ingestPort, reconcilerPort, egressBase] = [await freePort(), await freePort(), await freePortPair()];
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
    },
    flows: [
      {
        id: 'eng',
        sides: [
          { platform: 'linear', workspace: 'ENG' },
          { platform: 'jira', workspace: 'ENG' },
        ],
        fields: opts.fields ?? { default: 'last-write-wins' },
        statusMap: DEMO_STATUS_MAP,
      },
    ],
    ingest: { port: ingestPort, pollIntervalMs: opts.pollIntervalMs ?? 0 },
    reconciler: { port: reconcilerPort },
    egress: { port: egressBase, maxAttempts: 6, backoffBaseMs: 100, backoffMaxMs: 2000, ...opts.egress },
  };
  // Egress ports are base + platform index (linear 0, jira 1): take a second free port's worth of room.
  const configFile = pipeline.configFile;
  writeFileSync(configFile, stringify(doc));
  const config = loadAppConfig(configFile, {});
  await preparePipeline(config, () => undefined);
  await startPipeline(pipeline, config);

  const ingestUrl = `http://127.0.0.1:${ingestPort}`;
  for (const [platform, c] of boundConnectors(config)) {
    await c.registerWebhook({
      url: `${ingestUrl}/webhooks/${platform}`,
      secret: platform === 'linear' ? LINEAR_WEBHOOK_SECRET : JIRA_WEBHOOK_SECRET,
    });
  }

  const db = new pg.Pool({ connectionString: pgUrl.toString(), max: 2 });
  const people = { alice: 'alice', bob: 'bob', carol: 'carol' } as const;
  return {
    id,
    config,
    pipeline,
    linearEmu,
    jiraEmu,
    linearControl: new EmulatorControl(linearEmu.url),
    jiraControl: new EmulatorControl(jiraEmu.url),
    linearAs: (p) =>
      new LinearClient({ apiKey: LINEAR_DEMO_TOKENS[people[p]], apiUrl: `${linearEmu.url}/graphql` }),
    jiraAs: (p) =>
      new Version3Client({
        host: jiraEmu.url,
        authentication: { basic: { email: `${p}@example.com`, apiToken: `sandbox-jira-token-${p}` } },
      }),
    db,
    kill: (service) => killService(pipeline, service),
    async restart(service) {
      const spec = pipelineServices(config).find((x) => x.name === service);
      if (!spec) throw new Error(`restarting ${service}: no such service`);
      await startService(pipeline, config, spec);
    },
    async stop() {
      await stopPipeline(pipeline);
      await db.end();
      await linearEmu.close();
      await jiraEmu.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

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

/** Waits until neither emulator has answered a request for `quietMs`: the pipeline has settled. */
export async function settled(e: E2E, quietMs = 3000, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastCount = -1;
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    const count = e.linearEmu.ledger.list().length + e.jiraEmu.ledger.list().length;
    if (count !== lastCount) {
      lastCount = count;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`waiting for the pipeline to settle: API calls still happening after ${timeoutMs} ms`);
}
