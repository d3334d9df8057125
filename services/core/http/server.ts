/**
 * Every service's operational HTTP surface: /healthz (the process answers), /readyz (named
 * readiness checks, 503 when any fails), /metrics (Prometheus). Services add their own routes
 * (webhooks) on the returned fastify instance.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from '../logging/index.ts';

export type ReadinessCheck = () => Promise<void> | void;

export interface HttpServerOptions {
  host: string;
  port: number;
  logger?: Logger;
  /** Shared metrics registry; default metrics (process, GC, event loop) are registered on it. */
  metrics?: Registry;
  /** Per-check timeout; a check that hangs counts as not ready. */
  checkTimeoutMs?: number;
}

export interface HttpServer {
  readonly app: FastifyInstance;
  readonly metrics: Registry;
  /** A readiness check: resolve when ready, throw (with the reason) when not. */
  addReadinessCheck(name: string, check: ReadinessCheck): void;
  /** Mark the process as draining: /readyz answers 503 from now on. */
  setDraining(): void;
  listen(): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

export function createHttpServer(opts: HttpServerOptions): HttpServer {
  const metrics = opts.metrics ?? new Registry();
  if (!opts.metrics) collectDefaultMetrics({ register: metrics });
  const checks = new Map<string, ReadinessCheck>();
  let draining = false;
  const timeout = opts.checkTimeoutMs ?? 2000;

  // fastify's own request logging stays off: ours carries trace ids, and probes would flood it.
  const app = Fastify({ logger: false });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const results: Record<string, { ok: boolean; error?: string }> = {};
    await Promise.all(
      [...checks].map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(check),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms`)), timeout);
            }),
          ]);
          results[name] = { ok: true };
        } catch (err) {
          results[name] = { ok: false, error: err instanceof Error ? err.message : String(err) };
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const ready = !draining && Object.values(results).every((r) => r.ok);
    return reply
      .code(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : draining ? 'draining' : 'not ready', checks: results });
  });

  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));

  return {
    app,
    metrics,
    addReadinessCheck: (name, check) => void checks.set(name, check),
    setDraining: () => void (draining = true),
    async listen() {
      await app.listen({ host: opts.host, port: opts.port });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.port;
      opts.logger?.info({ host: opts.host, port }, 'http listening');
      return { host: opts.host, port };
    },
    close: () => app.close(),
  };
}

export interface ShutdownStep {
  name: string;
  run(): Promise<void> | void;
}

/**
 * Clean shutdown in order: stop taking work (e.g. stop consumers, close webhooks), finish what is
 * in flight, then close resources. Each step runs even if an earlier one failed; the whole thing is
 * bounded by `timeoutMs`. Returns the names of steps that failed or did not finish.
 */
export async function shutdownGracefully(
  steps: ShutdownStep[],
  opts: { logger?: Logger; timeoutMs?: number } = {},
): Promise<string[]> {
  const failed: string[] = [];
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (const step of steps) {
    const left = deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      if (left <= 0) throw new Error('shutdown deadline passed');
      await Promise.race([
        Promise.resolve().then(() => step.run()),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${left} ms`)), left);
        }),
      ]);
      opts.logger?.info({ step: step.name }, 'shutdown step done');
    } catch (err) {
      failed.push(step.name);
      opts.logger?.error({ step: step.name, err }, 'shutdown step failed');
    } finally {
      clearTimeout(timer);
    }
  }
  return failed;
}

/**
 * Run `shutdown` once on SIGTERM/SIGINT, then exit (1 if any step failed). Further signals while
 * it runs are ignored, not fatal: a service under its supervisor gets SIGTERM twice (`lockstep
 * down` signals the process group, and the supervisor passes the signal on), and with a one-shot
 * listener the second one killed it mid-drain — no LeaveGroup, so the next start's JoinGroup
 * waited ~20 s for the dead member's session to expire, and the sandbox reset could not delete
 * the group. A drain that hangs is ended by its caller's SIGKILL (stopProcess) or the step timeouts.
 */
export function onTerminate(shutdown: () => Promise<string[]>): void {
  let started = false;
  const handler = () => {
    if (started) return;
    started = true;
    void shutdown().then(
      (failed) => process.exit(failed.length ? 1 : 0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
