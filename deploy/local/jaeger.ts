/**
 * Jaeger v2 all-in-one (an OpenTelemetry Collector distribution) built from source with Go,
 * memory storage, OTLP gRPC/HTTP receivers and the query API/UI, all on 127.0.0.1.
 *
 * Why not plain `go install …/cmd/jaeger@version`: the module's go.mod carries a replace
 * directive, which `go install pkg@version` refuses. So the module is fetched with
 * `go mod download` and `cmd/jaeger` built inside it, which is what `go install` would compile.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { httpOk, isAlive, readPid, run, startDaemon, StackError, stopPidFile, waitUntil } from './process.ts';
import type { Component, StackOptions } from './types.ts';

const MODULE = 'github.com/jaegertracing/jaeger';

function binary(o: StackOptions): string {
  return join(o.cacheDir, 'jaeger', o.env.versions.jaeger, 'bin', 'jaeger');
}
function dir(o: StackOptions): string {
  return join(o.stateDir, 'jaeger');
}
function logFile(o: StackOptions): string {
  return join(o.stateDir, 'logs', 'jaeger.log');
}
function pidFile(o: StackOptions): string {
  return join(dir(o), 'jaeger.pid');
}

export function jaegerEndpoints(o: StackOptions): { url: string; otlpHttp: string; otlpGrpc: string } {
  return {
    url: `http://127.0.0.1:${o.ports.jaegerQuery}`,
    otlpHttp: `http://127.0.0.1:${o.ports.otlpHttp}`,
    otlpGrpc: `http://127.0.0.1:${o.ports.otlpGrpc}`,
  };
}

function configYaml(o: StackOptions): string {
  const p = o.ports;
  return `# Written by lockstep (deploy/local/jaeger.ts) for instance ${o.instance}; regenerated on every start.
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    # No internal metrics endpoint: its default port would clash between the dev and test stacks.
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    # On by default: the query service traces itself to localhost:4317 (the dev stack's OTLP
    # port, even for the test stack) and then hangs on shutdown flushing to it.
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:${p.jaegerQuery}
    grpc:
      endpoint: 127.0.0.1:${p.jaegerQueryGrpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${p.otlpGrpc}
      http:
        endpoint: 127.0.0.1:${p.otlpHttp}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;
}

/**
 * One build at a time per cache: every checkout and instance (dev, test, several engineers)
 * shares the binary, and parallel builds of the same thing on two cores only slow each other
 * down. The lock is a file holding the builder's pid; a dead holder's lock is taken over.
 */
async function withBuildLock(o: StackOptions, build: () => Promise<void>): Promise<void> {
  const lock = `${binary(o)}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  let announced = false;
  for (;;) {
    if (existsSync(binary(o))) return;
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch {
      const holder = readPid(lock);
      if (holder === undefined || !isAlive(holder)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (!announced)
        o.log(`jaeger: another process (pid ${holder}) is building it; waiting for its build to finish…`);
      announced = true;
      await sleep(2_000);
    }
  }
  try {
    if (!existsSync(binary(o))) await build();
  } finally {
    rmSync(lock, { force: true });
  }
}

async function install(o: StackOptions): Promise<void> {
  if (existsSync(binary(o))) return;
  await withBuildLock(o, () => build(o));
}

async function build(o: StackOptions): Promise<void> {
  const bin = binary(o);
  const log = logFile(o);
  const version = o.env.versions.jaeger;
  o.log(
    `jaeger: fetching ${MODULE}@${version} and building cmd/jaeger with Go (first time only; several minutes on 2 cores; log ${log})…`,
  );
  let moduleDir: string;
  try {
    const { stdout } = await promisify(execFile)(
      o.env.go,
      ['mod', 'download', '-json', `${MODULE}@${version}`],
      {
        cwd: o.cacheDir,
        maxBuffer: 10 * 1024 * 1024,
      },
    );
    const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
    if (!info.Dir) throw new Error(info.Error ?? 'no module directory');
    moduleDir = info.Dir;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    const why =
      e.code === 'ENOENT'
        ? `${o.env.go} is not installed or not on PATH`
        : `${e.stderr ?? ''}${e.stdout ?? ''}${e.message}`;
    throw new StackError('jaeger', `downloading ${MODULE}@${version}: ${why.trim()}`, log);
  }
  o.log(`jaeger: module downloaded; compiling cmd/jaeger…`);
  mkdirSync(join(o.cacheDir, 'jaeger', version, 'bin'), { recursive: true });
  // A per-process name, renamed into place: a reader cannot see half a file.
  const tmp = `${bin}.${process.pid}.tmp`;
  await run(o.env.go, ['build', '-trimpath', '-o', tmp, './cmd/jaeger'], {
    component: 'jaeger',
    logFile: log,
    cwd: moduleDir,
  });
  renameSync(tmp, bin);
}

async function healthy(o: StackOptions): Promise<boolean> {
  return httpOk(`${jaegerEndpoints(o).url}/api/services`).catch(() => false);
}

async function start(o: StackOptions): Promise<void> {
  const log = logFile(o);
  const running = readPid(pidFile(o));
  if (running !== undefined && isAlive(running)) {
    await waitUntil(() => healthy(o), { component: 'jaeger', logFile: log, timeoutMs: 30_000, pid: running });
    return;
  }
  mkdirSync(dir(o), { recursive: true });
  const config = join(dir(o), 'config.yaml');
  writeFileSync(config, configYaml(o));
  const pid = await startDaemon(binary(o), ['--config', config], {
    component: 'jaeger',
    logFile: log,
    pidFile: pidFile(o),
    cwd: dir(o),
  });
  await waitUntil(() => healthy(o), { component: 'jaeger', logFile: log, timeoutMs: 60_000, pid });
}

export const jaegerComponent: Component = {
  name: 'jaeger',
  install,
  start,
  healthy,
  stop: (o) => stopPidFile(pidFile(o), 15_000),
  pid: (o) => readPid(pidFile(o)),
  logFile,
};
