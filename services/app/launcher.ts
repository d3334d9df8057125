/**
 * Runs the pipeline's processes — ingest, reconciler, one egress per platform in a flow — as
 * detached children with pid files and logs under a state dir, so `lockstep start` can return,
 * `lockstep status` can report them and `lockstep down` can stop them. End-to-end tests use the
 * same launcher on their own state dir and ports, and kill single services to test recovery.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  httpOk,
  isAlive,
  readPid,
  startDaemon,
  stopPidFile,
  stopProcess,
  waitUntil,
} from '../../deploy/local/process.ts';
import { CHECKOUT_ROOT } from '../../deploy/local/stack.ts';
import { migrate } from '../core/db/index.ts';
import {
  createKafka,
  createRegistry,
  ensureTopics,
  type SchemaName,
  schemaText,
  topicSpecs,
  valueSubject,
} from '../core/kafka/index.ts';
import { egressPort, type AppConfig } from './config.ts';

export interface PipelineOptions {
  /** Holds pid files and logs: <stateDir>/<service>.pid, <stateDir>/logs/<service>.log. */
  stateDir: string;
  configFile: string;
  /** Extra environment for the services (credentials the config names by reference). */
  env: NodeJS.ProcessEnv;
  log(line: string): void;
}

export interface ServiceSpec {
  name: string;
  args: string[];
  port: number;
}

export interface ServiceStatus {
  name: string;
  pid: number | null;
  running: boolean;
  healthy: boolean;
  url: string;
  log: string;
}

const NODE = process.execPath;
const BIN = join(CHECKOUT_ROOT, 'bin', 'lockstep.mjs');
const PRELOAD = join(CHECKOUT_ROOT, 'services', 'core', 'telemetry', 'preload.ts');

export function flowPlatforms(config: AppConfig): string[] {
  return [...new Set(config.flows.flatMap((f) => f.sides.map((s) => s.platform)))].sort();
}

export function pipelineServices(config: AppConfig): ServiceSpec[] {
  return [
    { name: 'ingest', args: ['ingest'], port: config.ingest.port },
    { name: 'reconciler', args: ['reconciler'], port: config.reconciler.port },
    ...flowPlatforms(config).map((p) => ({
      name: `egress-${p}`,
      args: ['egress', '--platform', p],
      port: egressPort(config, p),
    })),
  ];
}

/** Idempotent set-up every start does: migrations, topics, schemas. */
export async function preparePipeline(config: AppConfig, log: (line: string) => void): Promise<void> {
  const applied = await migrate(config.postgres.url);
  log(applied.length ? `migrations applied: ${applied.join(', ')}` : 'migrations: up to date');
  const kafka = createKafka(config.kafka);
  const topics = await ensureTopics(kafka, topicSpecs(config.kafka));
  log(`topics: ${topics.created.length} created, ${topics.existing.length} present`);
  for (const w of topics.warnings) log(`warning: ${w}`);
  const registry = createRegistry(config.registry.url);
  for (const [topic, schema] of schemaTopics(config))
    await registry.register(valueSubject(topic), schemaText(schema), 'BACKWARD');
  log('schemas registered (BACKWARD)');
}

function schemaTopics(config: AppConfig): [string, SchemaName][] {
  const t = config.kafka.topics;
  return [
    [t.changes, 'ChangeEvent'],
    ...flowPlatforms(config).map((p): [string, 'WriteCommand'] => [
      `${t.commandsPrefix}${p}.v1`,
      'WriteCommand',
    ]),
    [t.outcomes, 'WriteOutcome'],
    [t.conflicts, 'Conflict'],
    [t.dlq, 'DeadLetter'],
  ];
}

const pidFile = (o: PipelineOptions, name: string) => join(o.stateDir, `${name}.pid`);
const logFile = (o: PipelineOptions, name: string) => join(o.stateDir, 'logs', `${name}.log`);

export async function startService(o: PipelineOptions, config: AppConfig, s: ServiceSpec): Promise<number> {
  mkdirSync(join(o.stateDir, 'logs'), { recursive: true });
  const existing = readPid(pidFile(o, s.name));
  if (existing !== undefined && isAlive(existing)) return existing;
  const pid = await startDaemon(NODE, ['--import', PRELOAD, BIN, ...s.args], {
    component: s.name,
    logFile: logFile(o, s.name),
    pidFile: pidFile(o, s.name),
    cwd: CHECKOUT_ROOT,
    env: {
      ...process.env,
      ...o.env,
      LOCKSTEP_CONFIG: o.configFile,
      LOCKSTEP_SERVICE_NAME: `lockstep-${s.name}`,
    },
  });
  // waitUntil names the service and its log when it exits or never gets ready.
  await waitUntil(() => httpOk(`http://${config.http.host}:${s.port}/readyz`).catch(() => false), {
    component: s.name,
    logFile: logFile(o, s.name),
    timeoutMs: 90_000,
    pid,
  });
  return pid;
}

/** Starts every service that is not already running; a second call is harmless. */
export async function startPipeline(o: PipelineOptions, config: AppConfig): Promise<ServiceStatus[]> {
  for (const s of pipelineServices(config)) {
    const before = readPid(pidFile(o, s.name));
    const pid = await startService(o, config, s);
    o.log(
      before === pid
        ? `${s.name}: already running (pid ${pid})`
        : `${s.name}: started (pid ${pid}, port ${s.port})`,
    );
  }
  return pipelineStatus(o, config);
}

/** Kills one service (SIGKILL by default: the crash tests) without waiting for it to finish work. */
export async function killService(
  o: PipelineOptions,
  name: string,
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<void> {
  const pid = readPid(pidFile(o, name));
  if (pid === undefined || !isAlive(pid)) return;
  if (signal === 'SIGKILL') {
    process.kill(-pid, 'SIGKILL');
    await waitUntil(async () => !isAlive(pid), {
      component: name,
      logFile: logFile(o, name),
      timeoutMs: 10_000,
    });
  } else await stopProcess(pid, 30_000);
}

/** Stops every service of this state dir (SIGTERM, then SIGKILL after 30 s). */
export async function stopPipeline(o: PipelineOptions): Promise<string[]> {
  if (!existsSync(o.stateDir)) return [];
  const stopped: string[] = [];
  for (const f of readdirSync(o.stateDir).filter((f) => f.endsWith('.pid'))) {
    if (await stopPidFile(join(o.stateDir, f), 30_000)) stopped.push(f.slice(0, -4));
  }
  return stopped;
}

export async function pipelineStatus(o: PipelineOptions, config: AppConfig): Promise<ServiceStatus[]> {
  return Promise.all(
    pipelineServices(config).map(async (s) => {
      const pid = readPid(pidFile(o, s.name)) ?? null;
      const running = pid !== null && isAlive(pid);
      const url = `http://${config.http.host}:${s.port}`;
      return {
        name: s.name,
        pid: running ? pid : null,
        running,
        healthy: running && (await httpOk(`${url}/readyz`)),
        url,
        log: logFile(o, s.name),
      };
    }),
  );
}
