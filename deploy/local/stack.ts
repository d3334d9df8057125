/**
 * The local stack without Docker: Kafka (KRaft), Apicurio Registry, PostgreSQL and Jaeger as
 * plain processes. Downloads and builds are cached under the cache dir; each instance (`dev`,
 * `test`) has its own ports and state dir, so `npm test` never touches a running `npm start`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { localStackEnv, type PortOverrides } from './config.ts';
import { jaegerComponent, jaegerEndpoints } from './jaeger.ts';
import { kafkaComponent } from './kafka.ts';
import { assertPrerequisites } from './prerequisites.ts';
import { postgresComponent, postgresUrl } from './postgres.ts';
import { isAlive } from './process.ts';
import { registryComponent, registryUrl } from './registry.ts';
import type { Component, ComponentName, ComponentStatus, StackOptions, StackPorts } from './types.ts';

export { StackError } from './process.ts';
export type { ComponentStatus, StackOptions, StackPorts } from './types.ts';

export const CHECKOUT_ROOT = join(import.meta.dirname, '..', '..');
export const STATE_ROOT = join(CHECKOUT_ROOT, '.lockstep');

const COMPONENTS: readonly Component[] = [
  kafkaComponent,
  registryComponent,
  postgresComponent,
  jaegerComponent,
];

function withOverrides(base: StackPorts, o: PortOverrides): StackPorts {
  return {
    ...base,
    kafka: o.kafka ?? base.kafka,
    // The secondary ports follow their primary when it is overridden, so one variable moves a
    // component out of the way entirely (controller = kafka + 1, management = registry + 1000,
    // query gRPC = query − 1).
    kafkaController: o.kafka !== undefined ? o.kafka + 1 : base.kafkaController,
    registry: o.registry ?? base.registry,
    registryManagement: o.registry !== undefined ? o.registry + 1000 : base.registryManagement,
    postgres: o.postgres ?? base.postgres,
    jaegerQuery: o.jaegerQuery ?? base.jaegerQuery,
    jaegerQueryGrpc: o.jaegerQuery !== undefined ? o.jaegerQuery - 1 : base.jaegerQueryGrpc,
    otlpGrpc: o.otlpGrpc ?? base.otlpGrpc,
    otlpHttp: o.otlpHttp ?? base.otlpHttp,
  };
}

function preset(instance: string, ports: StackPorts, log: (line: string) => void): StackOptions {
  const env = localStackEnv();
  return { instance, stateDir: join(STATE_ROOT, instance), cacheDir: env.cacheDir, ports, env, log };
}

/** The stack `lockstep up` / `npm start` use. Ports overridable with LOCKSTEP_*_PORT. */
export function devStack(log: (line: string) => void = () => undefined): StackOptions {
  const base: StackPorts = {
    kafka: 9092,
    kafkaController: 9093,
    registry: 8081,
    registryManagement: 9081,
    postgres: 5433,
    jaegerQuery: 16686,
    jaegerQueryGrpc: 16685,
    otlpGrpc: 4317,
    otlpHttp: 4318,
  };
  return preset('dev', withOverrides(base, localStackEnv().devPorts), log);
}

/** The stack `npm test` starts. Ports overridable with LOCKSTEP_TEST_*_PORT. */
export function testStack(log: (line: string) => void = () => undefined): StackOptions {
  const base: StackPorts = {
    kafka: 29092,
    kafkaController: 29093,
    registry: 28081,
    registryManagement: 29081,
    postgres: 25433,
    jaegerQuery: 26686,
    jaegerQueryGrpc: 26685,
    otlpGrpc: 24317,
    otlpHttp: 24318,
  };
  return preset('test', withOverrides(base, localStackEnv().testPorts), log);
}

export interface StackEndpoints {
  kafka: { bootstrap: string };
  /** `url` is the Confluent-compatible base URL (…/apis/ccompat/v7). */
  registry: { url: string };
  postgres: { url: string };
  jaeger: { url: string; otlpHttp: string; otlpGrpc: string };
}

export function stackEndpoints(o: StackOptions): StackEndpoints {
  return {
    kafka: { bootstrap: `127.0.0.1:${o.ports.kafka}` },
    registry: { url: registryUrl(o) },
    postgres: { url: postgresUrl(o) },
    jaeger: jaegerEndpoints(o),
  };
}

export type StackStatus = StackEndpoints & {
  healthy: boolean;
  instance: string;
  stateDir: string;
  cacheDir: string;
  components: Record<ComponentName, ComponentStatus>;
};

async function componentStatus(c: Component, o: StackOptions): Promise<ComponentStatus> {
  const pid = c.pid(o);
  const running = pid !== undefined && isAlive(pid);
  const healthy = running && (await c.healthy(o).catch(() => false));
  return {
    healthy,
    running,
    pid: running ? (pid ?? null) : null,
    log: c.logFile(o),
    ...(running && !healthy ? { detail: 'running but not answering' } : {}),
    ...(!running ? { detail: 'not running' } : {}),
  };
}

export async function stackStatus(o: StackOptions): Promise<StackStatus> {
  const entries = await Promise.all(
    COMPONENTS.map(async (c) => [c.name, await componentStatus(c, o)] as const),
  );
  const components = Object.fromEntries(entries) as Record<ComponentName, ComponentStatus>;
  return {
    healthy: entries.every(([, s]) => s.healthy),
    instance: o.instance,
    stateDir: o.stateDir,
    cacheDir: o.cacheDir,
    ...stackEndpoints(o),
    components,
  };
}

/**
 * Start-up order: a component starts once those it names here are up (its download/build runs
 * at once, in parallel with everything else). None today; e.g. a registry keeping its schemas in
 * Postgres would be `registry: ['postgres']`.
 */
const START_AFTER: Partial<Record<ComponentName, readonly ComponentName[]>> = {};

/** How often a long download, build or start says it is still going. */
const HEARTBEAT_MS = 30_000;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

async function withHeartbeat<T>(o: StackOptions, what: string, t0: number, work: Promise<T>): Promise<T> {
  const timer = setInterval(
    () => o.log(`${what} (${Math.round((Date.now() - t0) / 1000)}s so far)…`),
    HEARTBEAT_MS,
  );
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

async function bringUp(
  o: StackOptions,
  c: Component,
  started: Map<ComponentName, Promise<void>>,
): Promise<void> {
  const t0 = Date.now();
  let installSaid = false;
  const installLog = (line: string) => {
    installSaid = true;
    o.log(line);
  };
  await withHeartbeat(o, `${c.name}: still downloading/building`, t0, c.install({ ...o, log: installLog }));
  // Only an install that did something says so (a cached one is a cheap check).
  if (installSaid) o.log(`${c.name}: downloaded/built in ${seconds(Date.now() - t0)}`);
  const deps = START_AFTER[c.name] ?? [];
  if (deps.length > 0) {
    o.log(`${c.name}: waiting for ${deps.join(', ')}…`);
    await Promise.all(deps.map((d) => started.get(d)));
  }
  const before = c.pid(o);
  const wasRunning = before !== undefined && isAlive(before);
  const t1 = Date.now();
  if (!wasRunning) o.log(`${c.name}: starting…`);
  await withHeartbeat(o, `${c.name}: still starting`, t1, c.start(o));
  o.log(
    wasRunning
      ? `${c.name}: already running (pid ${before})`
      : `${c.name}: up in ${seconds(Date.now() - t1)} (pid ${c.pid(o) ?? '?'}, log ${c.logFile(o)})`,
  );
}

export interface StackUpOptions {
  /**
   * Components not waited for: stackUp resolves once the others are up, and `later` settles when
   * these are too. `npm start` puts Jaeger here so its one-time build does not hold up the
   * pipeline (the services export traces once it answers; telemetry never blocks the data path).
   */
  background?: readonly ComponentName[];
}

export interface StackUp {
  status: StackStatus;
  /** Settles when the background components are up (rejects naming those that failed). */
  later: Promise<void>;
}

function failureError(o: StackOptions, results: PromiseSettledResult<unknown>[]): Error | undefined {
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (failures.length === 0) return undefined;
  return new Error(`starting the ${o.instance} stack:\n${failures.map((f) => `  ${f.message}`).join('\n')}`);
}

/**
 * Brings the stack up: checks the system prerequisites (one error listing every missing tool and
 * its fix, before anything starts), installs what is missing (cached), then starts every
 * component not already running and waits until each answers. Idempotent. Fails naming the
 * component and its log.
 */
export async function stackUpInStages(o: StackOptions, opts: StackUpOptions = {}): Promise<StackUp> {
  assertPrerequisites(o);
  mkdirSync(join(o.stateDir, 'logs'), { recursive: true });
  mkdirSync(o.cacheDir, { recursive: true });
  const started = new Map<ComponentName, Promise<void>>();
  for (const c of COMPONENTS) started.set(c.name, bringUp(o, c, started));
  const background = new Set(opts.background ?? []);
  const now = [...started].filter(([n]) => !background.has(n)).map(([, p]) => p);
  const rest = [...started].filter(([n]) => background.has(n)).map(([, p]) => p);
  const later = Promise.allSettled(rest).then((r) => {
    const err = failureError(o, r);
    if (err) throw err;
  });
  // A rejection of `later` is the caller's to handle; never an unhandled one meanwhile.
  later.catch(() => undefined);
  const err = failureError(o, await Promise.allSettled(now));
  if (err) {
    await Promise.allSettled(rest);
    throw err;
  }
  return { status: await stackStatus(o), later };
}

/** Brings the whole stack up and waits for every component (see stackUpInStages). */
export async function stackUp(o: StackOptions): Promise<StackStatus> {
  const { later } = await stackUpInStages(o);
  await later;
  return stackStatus(o);
}

/** Stops every component of the instance; idempotent. Returns the names that were running. */
export async function stackDown(o: StackOptions): Promise<ComponentName[]> {
  const stopped: ComponentName[] = [];
  const results = await Promise.allSettled(
    // Kafka last is not needed (nothing of ours depends on it during shutdown); stop all at once.
    COMPONENTS.map(async (c) => {
      const t0 = Date.now();
      if (await c.stop(o)) {
        stopped.push(c.name);
        o.log(`${c.name}: stopped in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      }
    }),
  );
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (failures.length > 0)
    throw new Error(`stopping the ${o.instance} stack:\n${failures.map((f) => `  ${f.message}`).join('\n')}`);
  return stopped;
}
