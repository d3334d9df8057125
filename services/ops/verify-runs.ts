/**
 * The record of each verify run in Postgres (`verify_runs`, migration 0120): what it found, in
 * counts by flow, platform and kind, and whether it repaired. `lockstep report` shows the last
 * one; the reconciler's schedule reads when the last scheduled run started, so its interval holds
 * across restarts and replicas. The summary is pure (`summarize`); the rest is two queries.
 */
import type { Pool } from '../core/db/index.ts';
import { exitCode, type VerifyReport } from './verify.ts';

/** What a finding is: a field that differs from the base, a linked record gone, an item with no link. */
export type FindingKind = 'field' | 'missing' | 'unlinked';

/**
 * `in_step`: nothing found; `drift`: drift, a missing record or an unlinked item was found;
 * `incomplete`: some reads failed (what was read is in the counts); `failed`: the run stopped
 * before a report (Postgres or Kafka down; `error` says why).
 */
export type VerifyResult = 'in_step' | 'drift' | 'incomplete' | 'failed';

export interface Finding {
  flow: string;
  platform: string;
  kind: FindingKind;
  count: number;
}

export interface VerifyRunSummary {
  links: { checked: number; pending: number; closed: number };
  drift: number;
  missing: number;
  /** null: the scan for unlinked items was not run. */
  unlinked: number | null;
  waiting: number;
  errors: number;
  /** Each moved side of a drifted field, each missing record, each unlinked item, counted. */
  findings: Finding[];
  /** Repair events published; null when the run did not repair. */
  repairPublished: number | null;
  /** The first drifts, for a person reading the report (the CLI's output has them all). */
  sample: { flow: string; linkId: string; field: string; moved: string[] }[];
  /** The first read errors. */
  errorSample: { platform: string; message: string }[];
  durationMs: number;
}

export interface VerifyRun {
  runId: string;
  origin: 'cli' | 'schedule';
  flows: string[];
  startedAt: string;
  finishedAt: string;
  result: VerifyResult;
  repair: boolean;
  summary: VerifyRunSummary | null;
  error: string | null;
}

const SAMPLE = 20;
/** Rows older than this are deleted when a run is recorded. */
export const VERIFY_RUNS_KEPT_DAYS = 30;

export function resultOf(r: VerifyReport): VerifyResult {
  const code = exitCode(r);
  return code === 1 ? 'incomplete' : code === 2 ? 'drift' : 'in_step';
}

/** The counts the metrics and the report use, from a full verify report. */
export function summarize(r: VerifyReport): VerifyRunSummary {
  const counts = new Map<string, Finding>();
  const add = (flow: string, platform: string, kind: FindingKind) => {
    const key = `${flow}\u0000${platform}\u0000${kind}`;
    const f = counts.get(key) ?? { flow, platform, kind, count: 0 };
    f.count++;
    counts.set(key, f);
  };
  for (const d of r.drift) for (const p of d.moved) add(d.flowId, p, 'field');
  for (const m of r.missing) add(m.flowId, m.platform, 'missing');
  for (const u of r.unlinked ?? []) add(u.flowId, u.platform, 'unlinked');
  return {
    links: r.links,
    drift: r.drift.length,
    missing: r.missing.length,
    unlinked: r.unlinked === null ? null : r.unlinked.length,
    waiting: r.waiting.length,
    errors: r.errors.length,
    findings: [...counts.values()].sort(
      (a, b) =>
        a.flow.localeCompare(b.flow) || a.platform.localeCompare(b.platform) || a.kind.localeCompare(b.kind),
    ),
    repairPublished: r.repair === null ? null : r.repair.published,
    sample: r.drift
      .slice(0, SAMPLE)
      .map((d) => ({ flow: d.flowId, linkId: d.linkId, field: d.field, moved: d.moved })),
    errorSample: r.errors.slice(0, SAMPLE).map((e) => ({ platform: e.platform, message: e.message })),
    durationMs: r.durationMs,
  };
}

export async function recordVerifyRun(pool: Pool, run: VerifyRun): Promise<void> {
  await pool.query(
    `insert into verify_runs (run_id, origin, flows, started_at, finished_at, result, repair, summary, error)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (run_id) do nothing`,
    [
      run.runId,
      run.origin,
      run.flows,
      run.startedAt,
      run.finishedAt,
      run.result,
      run.repair,
      run.summary,
      run.error,
    ],
  );
  await pool.query(`delete from verify_runs where finished_at < now() - make_interval(days => $1::int)`, [
    VERIFY_RUNS_KEPT_DAYS,
  ]);
}

interface Row {
  run_id: string;
  origin: 'cli' | 'schedule';
  flows: string[];
  started_at: Date;
  finished_at: Date;
  result: VerifyResult;
  repair: boolean;
  summary: VerifyRunSummary | null;
  error: string | null;
}

const fromRow = (r: Row): VerifyRun => ({
  runId: r.run_id,
  origin: r.origin,
  flows: r.flows,
  startedAt: r.started_at.toISOString(),
  finishedAt: r.finished_at.toISOString(),
  result: r.result,
  repair: r.repair,
  summary: r.summary,
  error: r.error,
});

/** The most recent run (of `origin`, or of either), or null when none is recorded. */
export async function lastVerifyRun(pool: Pool, origin?: VerifyRun['origin']): Promise<VerifyRun | null> {
  const r = await pool.query<Row>(
    `select * from verify_runs ${origin ? 'where origin = $1' : ''} order by finished_at desc limit 1`,
    origin ? [origin] : [],
  );
  return r.rows[0] ? fromRow(r.rows[0]) : null;
}
