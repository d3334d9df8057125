/**
 * A real Prometheus (Debian's `prometheus` package, installed by .ci/run) run by a test: its own
 * port (taken by binding), 127.0.0.1, a temporary storage directory and a generated config whose
 * static targets are the services given. The Debian service is never used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './ports.ts';

export const PROMETHEUS_BIN = process.env.LOCKSTEP_PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.LOCKSTEP_PROMTOOL_BIN ?? '/usr/bin/promtool';

export function requireBinary(path: string): void {
  if (!existsSync(path))
    throw new Error(
      `${path} is missing: install Debian's prometheus package (apt-get install -y prometheus; .ci/run does)`,
    );
}

export interface ScrapeTarget {
  job: string;
  port: number;
}

export interface RunningPrometheus {
  url: string;
  /** GET /api/v1/<path> and return `data` (throws on a non-success answer). */
  api<T>(path: string, params?: Record<string, string>): Promise<T>;
  /** An instant query's result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  log(): string;
  stop(): Promise<void>;
}

export async function startPrometheus(
  targets: ScrapeTarget[],
  opts: { scrapeIntervalS?: number; ruleFiles?: string[] } = {},
): Promise<RunningPrometheus> {
  requireBinary(PROMETHEUS_BIN);
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-prometheus-'));
  const interval = `${opts.scrapeIntervalS ?? 1}s`;
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: targets.map((t) => ({
      job_name: t.job,
      static_configs: [{ targets: [`127.0.0.1:${t.port}`] }],
    })),
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (b: Buffer) => void (output = (output + b.toString('utf8')).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));

  const stop = async () => {
    if (!gone) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const api = async <T>(path: string, params: Record<string, string> = {}): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params)}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };

  // Ready = the TSDB is open and the web API answers; a generous bound for a loaded machine.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (gone) {
      await stop();
      throw new Error(`prometheus exited before it was ready:\n${output}`);
    }
    const ok = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) })
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus on ${url} not ready within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    api,
    query: (expr) =>
      api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>('query', {
        query: expr,
      }).then((d) => d.result),
    log: () => output,
    stop,
  };
}
