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
 * Brings the stack up: installs what is missing (cached), then starts every component not already
 * running and waits until each answers. Idempotent. Fails naming the component and its log.
 */
export async function stackUp(o: StackOptions): Promise<StackStatus> {
  mkdirSync(join(o.stateDir, 'logs'), { recursive: true });
  mkdirSync(o.cacheDir, { recursive: true });
  const results = await Promise.allSettled(
    COMPONENTS.map(async (c) => {
      await c.install(o);
      const before = c.pid(o);
      const wasRunning = before !== undefined && isAlive(before);
      const t0 = Date.now();
      if (!wasRunning) o.log(`${c.name}: starting…`);
      await c.start(o);
      o.log(
        wasRunning
          ? `${c.name}: already running (pid ${before})`
          : `${c.name}: up in ${((Date.now() - t0) / 1000).toFixed(1)}s (pid ${c.pid(o) ?? '?'}, log ${c.logFile(o)})`,
      );
    }),
  );
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (failures.length > 0) {
    throw new Error(`starting the ${o.instance} stack:\n${failures.map((f) => `  ${f.message}`).join('\n')}`);
  }
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
