/**
 * Runs the pipeline's processes — ingest, reconciler, one egress per platform in a flow — as
 * detached children with pid files and logs under a state dir, so `lockstep start` can return,
 * `lockstep status` can report them and `lockstep down` can stop them. Each service runs under a
 * supervisor (./supervisor.ts) that restarts it with backoff when it dies, as Kubernetes would;
 * the pid file holds the supervisor's pid, the supervisor's state file the service's.
 * End-to-end tests use the same launcher on their own state dir and ports, and kill single
 * services (or the service under its supervisor) to test recovery.
 */
import { lockstepTopicSpecs } from './topics.ts';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  httpOk,
  isAlive,
  readPid,
  StackError,
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
  valueSubject,
} from '../core/kafka/index.ts';
import { egressPort, type AppConfig } from './config.ts';
import {
  DEFAULT_RESTART_POLICY,
  type ExitInfo,
  type RestartPolicy,
  type SupervisorState,
} from './supervisor.ts';

export interface PipelineOptions {
  /** Holds pid files and logs: <stateDir>/<service>.pid, <stateDir>/logs/<service>.log. */
  stateDir: string;
  configFile: string;
  /** Extra environment for the services (credentials the config names by reference). */
  env: NodeJS.ProcessEnv;
  log(line: string): void;
  /** How the supervisor restarts a service that dies (default: DEFAULT_RESTART_POLICY). */
  restart?: Partial<RestartPolicy>;
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
  /** The supervisor's pid (null for a service started without one, or not running). */
  supervisorPid: number | null;
  /** running, backoff (dead, restart due at nextStartAtMs), stopping, stopped. */
  state: SupervisorState['state'] | null;
  restarts: number;
  lastExit: ExitInfo | null;
  /** At least `crashLoopRestarts` restarts within the window: shown as CrashLoopBackOff. */
  crashLoop: boolean;
  nextStartAtMs: number | null;
}

const NODE = process.execPath;
const BIN = join(CHECKOUT_ROOT, 'bin', 'lockstep.mjs');
const PRELOAD = join(CHECKOUT_ROOT, 'services', 'core', 'telemetry', 'preload.ts');
const SUPERVISOR = join(CHECKOUT_ROOT, 'services', 'app', 'supervisor.ts');

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
  const topics = await ensureTopics(kafka, lockstepTopicSpecs(config.kafka));
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
    [t.audit, 'AuditRecord'],
  ];
}

const pidFile = (o: PipelineOptions, name: string) => join(o.stateDir, `${name}.pid`);
const logFile = (o: PipelineOptions, name: string) => join(o.stateDir, 'logs', `${name}.log`);
const stateFile = (o: PipelineOptions, name: string) => join(o.stateDir, `${name}.supervisor.json`);

function policyOf(o: PipelineOptions): RestartPolicy {
  return { ...DEFAULT_RESTART_POLICY, ...o.restart };
}

/** The supervisor's state file of a service, if its supervisor wrote one. */
export function supervisorState(o: PipelineOptions, name: string): SupervisorState | null {
  try {
    return JSON.parse(readFileSync(stateFile(o, name), 'utf8')) as SupervisorState;
  } catch {
    return null;
  }
}

export async function startService(
  o: PipelineOptions,
  config: AppConfig,
  s: ServiceSpec,
  readyTimeoutMs = 90_000,
): Promise<number> {
  mkdirSync(join(o.stateDir, 'logs'), { recursive: true });
  const existing = readPid(pidFile(o, s.name));
  if (existing !== undefined && isAlive(existing)) return existing;
  const state = stateFile(o, s.name);
  const service = [NODE, '--import', PRELOAD, BIN, ...s.args];
  const pid = await startDaemon(NODE, [SUPERVISOR, state, JSON.stringify(policyOf(o)), ...service], {
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
  // A service that dies before it was ever ready (a bad config, a port taken) is a failed start,
  // not a crash to restart: it is stopped, and the error names its log. waitUntil names the
  // service and its log when it never gets ready.
  await waitUntil(
    async () => {
      const st = supervisorState(o, s.name);
      if (st?.supervisorPid === pid) {
        if (st.restarts > 0) {
          await stopProcess(pid, 30_000);
          throw new StackError(
            s.name,
            `exited before it was ready (${st.lastExit?.signal ?? `exit ${st.lastExit?.code}`})`,
            logFile(o, s.name),
          );
        }
      }
      return httpOk(`http://${config.http.host}:${s.port}/readyz`).catch(() => false);
    },
    { component: s.name, logFile: logFile(o, s.name), timeoutMs: readyTimeoutMs, pid },
  );
  return pid;
}

/**
 * Starts every service that is not already running, all at once; a second call is harmless.
 * Started one after the other, a warm `npm start` spent 12 of its 20 s here (each service's own
 * start is ~3 s of CPU on 2 cores, and the reconciler's group join waits on the broker); side by
 * side they share the cores, so each one's readiness bound grows with how many start together.
 */
export async function startPipeline(o: PipelineOptions, config: AppConfig): Promise<ServiceStatus[]> {
  const specs = pipelineServices(config);
  const readyTimeoutMs = 90_000 * Math.max(1, Math.ceil(specs.length / 2));
  const results = await Promise.allSettled(
    specs.map(async (s) => {
      const before = readPid(pidFile(o, s.name));
      const pid = await startService(o, config, s, readyTimeoutMs);
      o.log(
        before === pid
          ? `${s.name}: already running (pid ${pid})`
          : `${s.name}: started (pid ${pid}, port ${s.port})`,
      );
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
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

/**
 * Kills the service process itself, not its supervisor (SIGKILL by default: a crash, an OOM
 * kill); the supervisor starts it again after its backoff. Resolves with the killed pid.
 */
export async function killServiceProcess(
  o: PipelineOptions,
  name: string,
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<number> {
  const st = supervisorState(o, name);
  const pid = st?.pid ?? null;
  if (st === null || pid === null || !isAlive(st.supervisorPid) || !isAlive(pid))
    throw new Error(`killing ${name}: no supervised ${name} process is running`);
  process.kill(pid, signal);
  await waitUntil(async () => !isAlive(pid), {
    component: name,
    logFile: logFile(o, name),
    timeoutMs: 10_000,
  });
  return pid;
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
      const top = readPid(pidFile(o, s.name)) ?? null;
      const alive = top !== null && isAlive(top);
      const st = alive ? supervisorState(o, s.name) : null;
      // Started by this launcher: the pid file is the supervisor's, the service's pid is in its
      // state. Otherwise (started before supervisors existed) the pid file is the service's.
      const supervised = st !== null && st.supervisorPid === top;
      const pid = supervised ? st.pid : alive ? top : null;
      const running = pid !== null && isAlive(pid);
      const url = `http://${config.http.host}:${s.port}`;
      const policy = st?.policy ?? policyOf(o);
      const now = Date.now();
      const recent = supervised ? st.recentRestartsMs.filter((t) => now - t < policy.crashLoopWindowMs) : [];
      return {
        name: s.name,
        pid: running ? pid : null,
        running,
        healthy: running && (await httpOk(`${url}/readyz`)),
        url,
        log: logFile(o, s.name),
        supervisorPid: supervised ? top : null,
        state: supervised ? st.state : null,
        restarts: supervised ? st.restarts : 0,
        lastExit: supervised ? st.lastExit : null,
        crashLoop: recent.length >= policy.crashLoopRestarts,
        nextStartAtMs: supervised ? st.nextStartAtMs : null,
      };
    }),
  );
}
