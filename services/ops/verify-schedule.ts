/**
 * The scheduled audit: `reconciler.verifyEvery` runs the same verify as `lockstep verify` (verify-run.ts)
 * inside the reconciler, in the background. Why the reconciler: it runs in every deployment, owns
 * the links the run reads, its /metrics is the one `lockstep report` and Prometheus already scrape,
 * and the repair events go to its own input topic.
 *
 * - Throttled: reads at `reconciler.verifyShare` of each platform's request budget (default a
 *   quarter), slowed further by the platform's rate-limit headers, a few links at a time; live sync
 *   keeps the rest.
 * - One replica at a time: a run holds a Postgres session advisory lock; a replica that does not get
 *   it waits and tries again later. The interval is measured from the last scheduled run recorded in
 *   `verify_runs` (any replica's), so restarts and replicas do not make it run more often.
 * - Never crashes the service: a platform that fails is retried with backoff inside the run, given
 *   up on for the rest of the run after a few failed reads in a row, and the run is recorded as
 *   `incomplete`; the next run then comes sooner (backoff from 30 s, at most `verifyEvery`), so an
 *   outage is waited out. Postgres or Kafka failing makes the run `failed`, logged and counted.
 * - Report only by default; `reconciler.verifyRepair: true` repairs as `verify --repair` does.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AppConfig } from '../app/config.ts';
import type { Pool, PoolClient } from '../core/db/index.ts';
import type { LockstepProducer } from '../core/kafka/index.ts';
import type { Logger } from '../core/logging/index.ts';
import { newRunId, verifyLinks } from './verify-run.ts';
import {
  lastVerifyRun,
  recordVerifyRun,
  resultOf,
  summarize,
  type VerifyResult,
  type VerifyRunSummary,
} from './verify-runs.ts';
import type { VerifyReport } from './verify.ts';

/** The advisory lock key of the scheduled verify (next to the reconciler's 7_401_001 and 7_401_002). */
export const VERIFY_LOCK_KEY = 7_401_003;
/** The first retry after an incomplete or failed run; doubled each time, at most `verifyEvery`. */
export const RETRY_BASE_MS = 30_000;
/** The wait before the first run when none was ever recorded: the service settles first. */
export const FIRST_RUN_MAX_DELAY_MS = 60_000;
/** Failed reads in a row on one platform after which a run stops reading it. */
export const GIVE_UP_AFTER = 5;

/**
 * How long to wait before the next run: `every` after the last scheduled run started; sooner
 * after a run that could not read everything (`failures` in a row), so an outage that ends is
 * noticed; at most a minute (and at most `every`) when no run was ever recorded.
 */
export function nextRunDelay(o: {
  everyMs: number;
  lastStartedMs: number | null;
  nowMs: number;
  failures: number;
}): number {
  if (o.lastStartedMs === null) return Math.min(o.everyMs, FIRST_RUN_MAX_DELAY_MS);
  const period =
    o.failures > 0 ? Math.min(o.everyMs, RETRY_BASE_MS * 2 ** Math.min(o.failures - 1, 20)) : o.everyMs;
  return Math.max(0, o.lastStartedMs + period - o.nowMs);
}

export interface VerifyMetrics {
  runs: Counter<'result'>;
  found: Counter<'flow' | 'platform' | 'kind'>;
  repaired: Counter<'flow' | 'platform'>;
  readErrors: Counter<'platform' | 'category'>;
  lastRun: Gauge<'result'>;
  lastFound: Gauge<'flow' | 'platform' | 'kind'>;
}

export function verifyMetrics(registry: Registry): VerifyMetrics {
  return {
    runs: new Counter({
      name: 'lockstep_verify_runs_total',
      help: 'Scheduled verify runs by result (in_step, drift, incomplete, failed, aborted)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    found: new Counter({
      name: 'lockstep_verify_drift_found_total',
      help: 'What scheduled verify runs found, by flow, platform and kind (field: a moved side of a field, missing: a linked record gone, unlinked: an item with no link); counted again by each run that finds it',
      labelNames: ['flow', 'platform', 'kind'] as const,
      registers: [registry],
    }),
    repaired: new Counter({
      name: 'lockstep_verify_repaired_total',
      help: 'Repair change events scheduled verify runs published for the reconciler (verifyRepair), by flow and platform',
      labelNames: ['flow', 'platform'] as const,
      registers: [registry],
    }),
    readErrors: new Counter({
      name: 'lockstep_verify_read_errors_total',
      help: 'Failed reads of scheduled verify runs (retries included), by platform and error category',
      labelNames: ['platform', 'category'] as const,
      registers: [registry],
    }),
    lastRun: new Gauge({
      name: 'lockstep_verify_last_run_timestamp_seconds',
      help: 'When the last scheduled verify run of this replica finished, by its result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    lastFound: new Gauge({
      name: 'lockstep_verify_last_run_found',
      help: 'What the last scheduled verify run of this replica found, by flow, platform and kind',
      labelNames: ['flow', 'platform', 'kind'] as const,
      registers: [registry],
    }),
  };
}

export interface ScheduleDeps {
  config: AppConfig;
  pool: Pool;
  producer: LockstepProducer;
  metrics: Registry;
  logger: Logger;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Records what a finished run found in the metrics. */
function count(m: VerifyMetrics, report: VerifyReport, summary: VerifyRunSummary, result: VerifyResult) {
  m.runs.inc({ result });
  m.lastFound.reset();
  for (const f of summary.findings) {
    m.found.inc({ flow: f.flow, platform: f.platform, kind: f.kind }, f.count);
    m.lastFound.set({ flow: f.flow, platform: f.platform, kind: f.kind }, f.count);
  }
  const flowOfLink = new Map<string, string>();
  for (const d of report.drift) flowOfLink.set(d.linkId, d.flowId);
  for (const x of report.missing) flowOfLink.set(x.linkId, x.flowId);
  for (const e of report.repair?.events ?? [])
    m.repaired.inc({ flow: flowOfLink.get(e.linkId) ?? '', platform: e.platform });
  m.lastRun.reset();
  m.lastRun.set({ result }, Date.now() / 1000);
}

/**
 * Starts the schedule when `reconciler.verifyEvery` is set; returns the stop (it aborts a run in
 * progress: the run is counted `aborted` and not recorded). Null when the schedule is off.
 */
export function startScheduledVerify(d: ScheduleDeps): { stop(): Promise<void> } | null {
  const r = d.config.reconciler;
  const everyMs = r.verifyEvery ?? null;
  if (everyMs === null) return null;
  if (d.config.flows.length === 0) {
    d.logger.warn('reconciler.verifyEvery is set but no flows are configured: nothing to verify');
    return null;
  }
  const m = verifyMetrics(d.metrics);
  const abort = new AbortController();
  let wake: (() => void) | null = null;
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  let failures = 0;
  // This replica's last start: the interval holds even when recording a run failed.
  let startedHere: number | null = null;
  const lastStart = (recorded: string | undefined) => {
    const t = recorded === undefined ? null : Date.parse(recorded);
    return t === null ? startedHere : startedHere === null ? t : Math.max(t, startedHere);
  };

  /** One run under the lock, or nothing when another replica holds it or ran meanwhile. */
  const attempt = async (): Promise<'ran' | 'locked' | 'not_due'> => {
    let client: PoolClient | undefined;
    let locked = false;
    try {
      client = await d.pool.connect();
      const l = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [
        VERIFY_LOCK_KEY,
      ]);
      locked = l.rows[0]?.ok === true;
      if (!locked) return 'locked';
      // Another replica may have run while this one waited for its turn.
      const last = await lastVerifyRun(d.pool, 'schedule');
      const lastStartedMs = lastStart(last?.startedAt);
      if (lastStartedMs !== null && nextRunDelay({ everyMs, lastStartedMs, nowMs: Date.now(), failures }) > 0)
        return 'not_due';
      const started = Date.now();
      startedHere = started;
      const runId = newRunId(started);
      d.logger.info({ runId, repair: r.verifyRepair }, 'scheduled verify starting');
      let report: VerifyReport | null = null;
      let error: string | null = null;
      try {
        report = await verifyLinks(d.config, {
          flows: d.config.flows,
          repair: r.verifyRepair,
          unlinked: r.verifyUnlinked,
          share: r.verifyShare,
          concurrency: 2,
          pool: d.pool,
          producer: d.producer,
          runId,
          readRetry: { attempts: 4, baseMs: 1000, maxMs: 30_000 },
          giveUpAfter: GIVE_UP_AFTER,
          signal: abort.signal,
          onReadError: (platform, category) => m.readErrors.inc({ platform, category }),
        });
      } catch (err) {
        error = message(err);
      }
      if (abort.signal.aborted) {
        m.runs.inc({ result: 'aborted' });
        d.logger.info({ runId }, 'scheduled verify stopped by shutdown; not recorded');
        return 'ran';
      }
      const summary = report ? summarize(report) : null;
      const result: VerifyResult = report ? resultOf(report) : 'failed';
      failures = result === 'incomplete' || result === 'failed' ? failures + 1 : 0;
      if (report && summary) count(m, report, summary, result);
      else {
        m.runs.inc({ result });
        m.lastRun.reset();
        m.lastRun.set({ result }, Date.now() / 1000);
      }
      // Not recorded (Postgres failing now): the metrics and the log still have it, and the next
      // run comes at the retry interval, as the interval is read from the runs recorded.
      await recordVerifyRun(d.pool, {
        runId,
        origin: 'schedule',
        flows: d.config.flows.map((f) => f.id),
        startedAt: new Date(started).toISOString(),
        finishedAt: new Date().toISOString(),
        result,
        repair: r.verifyRepair,
        summary,
        error,
      }).catch((err: unknown) =>
        d.logger.warn({ runId, err: message(err) }, 'scheduled verify: recording the run failed'),
      );
      const log = result === 'failed' || result === 'incomplete' ? d.logger.warn : d.logger.info;
      log.call(
        d.logger,
        {
          runId,
          result,
          ...(summary && {
            links: summary.links.checked,
            drift: summary.drift,
            missing: summary.missing,
            unlinked: summary.unlinked,
            errors: summary.errors,
            repairPublished: summary.repairPublished,
          }),
          ...(error && { err: error }),
          ms: Date.now() - started,
        },
        'scheduled verify finished',
      );
      return 'ran';
    } finally {
      if (client) {
        let broken: Error | undefined;
        if (locked)
          await client.query('select pg_advisory_unlock($1)', [VERIFY_LOCK_KEY]).catch((e: unknown) => {
            broken = e as Error; // the pool drops this client, and the server its lock
          });
        client.release(broken);
      }
    }
  };

  const loop = (async () => {
    while (!abort.signal.aborted) {
      let delay: number;
      try {
        const last = await lastVerifyRun(d.pool, 'schedule');
        delay = nextRunDelay({
          everyMs,
          lastStartedMs: lastStart(last?.startedAt),
          nowMs: Date.now(),
          failures,
        });
      } catch (err) {
        failures++;
        delay = Math.min(everyMs, RETRY_BASE_MS * 2 ** Math.min(failures - 1, 20));
        d.logger.warn({ err: message(err), retryMs: delay }, 'scheduled verify: reading the last run failed');
      }
      if (delay > 0) await wait(delay);
      if (abort.signal.aborted) break;
      try {
        const out = await attempt();
        // Another replica is running one: look again after a while rather than spin on the lock.
        if (out === 'locked') await wait(Math.min(everyMs, FIRST_RUN_MAX_DELAY_MS));
      } catch (err) {
        // Postgres failing around the run (the lock, recording it): counted, logged, tried again.
        failures++;
        m.runs.inc({ result: 'failed' });
        d.logger.warn({ err: message(err) }, 'scheduled verify failed; will retry');
        await wait(Math.min(everyMs, RETRY_BASE_MS * 2 ** Math.min(failures - 1, 20)));
      }
    }
  })();
  d.logger.info(
    { everyMs, repair: r.verifyRepair, share: r.verifyShare, unlinked: r.verifyUnlinked },
    'scheduled verify on',
  );
  return {
    async stop() {
      abort.abort();
      wake?.();
      await loop;
    },
  };
}
