/**
 * Pruning of the tables that only remember what was already done: the dedupe ids of ingest and the
 * reconciler, the outbox rows already sent, egress' applied records and set-aside events. Each is
 * needed only while the record it guards can still come back from Kafka — a redelivery or a
 * replay of a topic, which reaches back at most the topic's retention. So a row older than the
 * longest retention of the topics it guards (changes, commands, outcomes) plus a margin can go.
 *
 * Kafka deletes whole log segments, so a record outlives retention.ms by up to one segment's age
 * (segment.ms / log.roll.ms, 7 days by default): the caller passes that in the margin.
 *
 * In particular, a pruned `egress_applied` row cannot cause a second apply of a command still
 * retained in Kafka: the row was written when its command was applied, after the command was
 * appended, and is pruned only max(retention) + segment age + margin after that — by then the
 * command's segment has been deleted from its commands topic, so no consumer (a restart, a reset
 * group, a replay) can read it again. The extra margin covers clock skew between the brokers and
 * Postgres. Not covered: the dead-letter topic is kept longer (30 days by default), so a retried
 * dead letter of a command older than the prune window is no longer recognised as applied. Rows are deleted in batches, so no delete holds locks
 * over a large table for long.
 */
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../logging/index.ts';
import { pgError } from './errors.ts';
import type { Pool } from './db.ts';

/** Each prunable table and the column that says when its row stopped being needed. */
export const PRUNABLE: readonly { table: string; column: string }[] = [
  { table: 'ingest_seen', column: 'seen_at' },
  { table: 'reconciler_seen_events', column: 'seen_at' },
  // Unsent rows have a null sent_at and never match.
  { table: 'reconciler_outbox', column: 'sent_at' },
  { table: 'egress_applied', column: 'applied_at' },
  // An event set aside this long ago waited for a link that was never made; it is logged.
  { table: 'reconciler_aside', column: 'created_at' },
];

export interface PruneOptions {
  /** Rows whose column is older than this go. */
  cutoff: Date;
  batchSize: number;
}

/** The counter `lockstep_pruned_rows_total{table}`, registered once per registry. */
export function prunedRowsCounter(registry: Registry): Counter<'table'> {
  const existing = registry.getSingleMetric('lockstep_pruned_rows_total');
  if (existing) return existing as Counter<'table'>;
  return new Counter({
    name: 'lockstep_pruned_rows_total',
    help: 'Rows deleted by pruning, by table (older than the topics retention plus the margin)',
    labelNames: ['table'] as const,
    registers: [registry],
  });
}

/**
 * Deletes every row older than the cutoff from each prunable table, `batchSize` rows per
 * statement. Resolves with the rows deleted per table.
 */
export async function pruneOnce(
  pool: Pool,
  opts: PruneOptions,
  deps: { counter?: Counter<'table'>; onBatch?: (table: string, rows: number) => void } = {},
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const { table, column } of PRUNABLE) {
    out[table] = 0;
    for (;;) {
      // Table and column names come from PRUNABLE above, never from input.
      const r = await pool
        .query(
          `delete from ${table} where ctid = any(array(
             select ctid from ${table} where ${column} < $1 limit $2))`,
          [opts.cutoff, opts.batchSize],
        )
        .catch((err: unknown) => {
          throw pgError(`pruning ${table}`, err);
        });
      const n = r.rowCount ?? 0;
      if (n > 0) {
        out[table] += n;
        deps.counter?.inc({ table }, n);
        deps.onBatch?.(table, n);
      }
      if (n < opts.batchSize) break;
    }
  }
  return out;
}

/** The cutoff for `now`: the longest retention of the guarded topics plus the margin. */
export function pruneCutoff(nowMs: number, retentionMs: readonly number[], marginMs: number): Date {
  return new Date(nowMs - Math.max(...retentionMs) - marginMs);
}

/**
 * Prunes every `intervalMs` until stopped (the first pass right away). A failed pass (Postgres
 * down) is logged and tried again at the next interval. Returns the stop function.
 */
export function startPruning(
  pool: Pool,
  opts: {
    intervalMs: number;
    batchSize: number;
    cutoff: () => Date;
    counter: Counter<'table'>;
    logger: Logger;
  },
): () => Promise<void> {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const pass = async () => {
    try {
      const cutoff = opts.cutoff();
      const pruned = await pruneOnce(pool, { cutoff, batchSize: opts.batchSize }, { counter: opts.counter });
      const total = Object.values(pruned).reduce((a, b) => a + b, 0);
      if (total > 0) opts.logger.info({ pruned, cutoff: cutoff.toISOString() }, 'pruned old rows');
      if ((pruned.reconciler_aside ?? 0) > 0)
        opts.logger.warn(
          { rows: pruned.reconciler_aside, cutoff: cutoff.toISOString() },
          'pruned set-aside events whose link never came',
        );
    } catch (err) {
      opts.logger.warn({ err: String(err) }, 'pruning failed; will try again');
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = pass().then(schedule);
    }, opts.intervalMs);
  };
  running = pass().then(schedule);
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await running;
  };
}
