/**
 * Shopify's Toxiproxy (a TCP fault proxy: latency, resets, timeouts, bandwidth limits, cut
 * connections), built from source with `go install` into the shared cache once, and started as a
 * plain process on a port the caller has taken. Used by the chaos suite (test/chaos/) to put faults
 * between the Lockstep services and Kafka, Postgres, the registry and the platforms.
 *
 * Driven only through its HTTP API (ToxiproxyClient below); see
 * https://github.com/Shopify/toxiproxy#http-api for the toxics and their attributes.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readPid, run, startDaemon, StackError, stopPidFile, waitUntil } from './process.ts';

const MODULE = 'github.com/Shopify/toxiproxy/v2';
export const TOXIPROXY_VERSION = 'v2.5.0';

export interface ToxiproxyInstall {
  /** The shared cache (LocalStackEnv.cacheDir). */
  cacheDir: string;
  /** The go binary (LocalStackEnv.go). */
  go: string;
  /** Build output is appended here. */
  logFile: string;
  version?: string;
  log?: (line: string) => void;
}

export function toxiproxyBinary(cacheDir: string, version = TOXIPROXY_VERSION): string {
  return join(cacheDir, 'toxiproxy', version, 'bin', 'toxiproxy-server');
}

/**
 * Builds `toxiproxy-server` into `<cache>/toxiproxy/<version>/bin` unless it is there already;
 * returns its path. Unlike Jaeger's module, Toxiproxy's go.mod has no replace directive, so plain
 * `go install module/cmd/server@version` works.
 */
export async function installToxiproxy(i: ToxiproxyInstall): Promise<string> {
  const version = i.version ?? TOXIPROXY_VERSION;
  const bin = toxiproxyBinary(i.cacheDir, version);
  if (existsSync(bin)) return bin;
  const t0 = Date.now();
  i.log?.(`toxiproxy: building ${MODULE}/cmd/server@${version} with Go (first time only)…`);
  // A per-process GOBIN, renamed into place: a concurrent build cannot expose half a file.
  const gobin = join(i.cacheDir, 'toxiproxy', version, `build-${process.pid}`);
  mkdirSync(gobin, { recursive: true });
  mkdirSync(join(i.cacheDir, 'toxiproxy', version, 'bin'), { recursive: true });
  try {
    await run(i.go, ['install', '-trimpath', `${MODULE}/cmd/server@${version}`], {
      component: 'toxiproxy',
      logFile: i.logFile,
      env: { ...process.env, GOBIN: gobin, GOFLAGS: '-buildvcs=false' },
    });
    if (!existsSync(join(gobin, 'server')))
      throw new StackError('toxiproxy', `go install left no binary in ${gobin}`, i.logFile);
    renameSync(join(gobin, 'server'), bin);
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
  i.log?.(`toxiproxy: built in ${((Date.now() - t0) / 1000).toFixed(1)}s (${bin})`);
  return bin;
}

export interface RunningToxiproxy {
  url: string;
  pid: number;
  client: ToxiproxyClient;
  stop(): Promise<void>;
}

/** Starts toxiproxy-server on 127.0.0.1:`port` and waits until its API answers. */
export async function startToxiproxy(o: {
  binary: string;
  port: number;
  logFile: string;
  pidFile: string;
}): Promise<RunningToxiproxy> {
  const url = `http://127.0.0.1:${o.port}`;
  const client = new ToxiproxyClient(url);
  const pid = await startDaemon(o.binary, ['-host', '127.0.0.1', '-port', String(o.port)], {
    component: 'toxiproxy',
    logFile: o.logFile,
    pidFile: o.pidFile,
  });
  await waitUntil(
    () =>
      client.version().then(
        () => true,
        () => false,
      ),
    {
      component: 'toxiproxy',
      logFile: o.logFile,
      timeoutMs: 30_000,
      pid,
    },
  );
  return {
    url,
    pid: readPid(o.pidFile) ?? pid,
    client,
    stop: async () => {
      await stopPidFile(o.pidFile, 5000);
    },
  };
}

export type ToxicType = 'latency' | 'reset_peer' | 'timeout' | 'bandwidth' | 'slow_close' | 'limit_data';

export interface Toxic {
  name: string;
  type: ToxicType;
  /** Which direction: `downstream` (upstream → client) or `upstream` (client → upstream). */
  stream?: 'upstream' | 'downstream';
  /** Probability (0–1) that a connection gets the toxic. */
  toxicity?: number;
  /** e.g. latency {latency, jitter} ms; timeout {timeout} ms (0 = forever); bandwidth {rate} KB/s; reset_peer {timeout} ms. */
  attributes: Record<string, number>;
}

export interface Proxy {
  name: string;
  /** host:port it listens on (the real port when created with port 0). */
  listen: string;
  upstream: string;
  enabled: boolean;
}

/** The Toxiproxy HTTP API; every failure is an error naming the call and the answer. */
export class ToxiproxyClient {
  readonly url: string;
  constructor(url: string) {
    this.url = url;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`calling toxiproxy ${method} ${path}: HTTP ${res.status} ${text.trim()}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async version(): Promise<string> {
    const res = await fetch(`${this.url}/version`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`calling toxiproxy GET /version: HTTP ${res.status}`);
    return (await res.text()).trim();
  }

  /** Creates a proxy; `listen` `127.0.0.1:0` makes Toxiproxy bind a free port (returned). */
  createProxy(name: string, upstream: string, listen = '127.0.0.1:0'): Promise<Proxy> {
    return this.call<Proxy>('POST', '/proxies', { name, listen, upstream, enabled: true });
  }

  /** Disabled: the listener is closed and every open connection through it is cut. */
  setEnabled(name: string, enabled: boolean): Promise<Proxy> {
    return this.call<Proxy>('POST', `/proxies/${name}`, { enabled });
  }

  addToxic(proxy: string, t: Toxic): Promise<Toxic> {
    return this.call<Toxic>('POST', `/proxies/${proxy}/toxics`, {
      stream: 'downstream',
      toxicity: 1,
      ...t,
    });
  }

  async removeToxic(proxy: string, name: string): Promise<void> {
    await this.call<void>('DELETE', `/proxies/${proxy}/toxics/${name}`);
  }

  /** Enables every proxy and removes every toxic. */
  async reset(): Promise<void> {
    await this.call<void>('POST', '/reset');
  }
}
