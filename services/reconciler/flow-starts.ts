/**
 * When each flow began (`reconciler_flows`). Live sync mirrors only the items made after their
 * flow began: an item that already existed may already have its counterpart (paired by hand or by
 * the tool being replaced), and creating it again is the duplicate storm. Those items are
 * `lockstep backfill`'s, which pairs them first and creates only the rest; it records here when
 * it last completed, so `lockstep report` can say which flows have never been backfilled.
 */
import type { Pool } from '../core/db/index.ts';

export interface FlowStart {
  startedAtMs: number;
  backfilledAtMs: number | null;
}

/** Records the flows not seen before as beginning now; returns every configured flow's start. */
export async function ensureFlowStarts(
  pool: Pool,
  flowIds: readonly string[],
): Promise<Map<string, FlowStart>> {
  if (flowIds.length > 0)
    await pool.query(
      'insert into reconciler_flows (flow_id) select unnest($1::text[]) on conflict (flow_id) do nothing',
      [flowIds],
    );
  return readFlowStarts(pool, flowIds);
}

export async function readFlowStarts(
  pool: Pool,
  flowIds: readonly string[],
): Promise<Map<string, FlowStart>> {
  const r = await pool.query<{ flow_id: string; started_ms: string; backfilled_ms: string | null }>(
    `select flow_id, (extract(epoch from started_at) * 1000)::bigint as started_ms,
            (extract(epoch from backfilled_at) * 1000)::bigint as backfilled_ms
       from reconciler_flows where flow_id = any($1::text[])`,
    [flowIds],
  );
  return new Map(
    r.rows.map((x) => [
      x.flow_id,
      {
        startedAtMs: Number(x.started_ms),
        backfilledAtMs: x.backfilled_ms === null ? null : Number(x.backfilled_ms),
      },
    ]),
  );
}

/** A completed backfill of the flow (a flow first met by backfill begins now). */
export async function recordBackfill(pool: Pool, flowId: string): Promise<void> {
  await pool.query(
    `insert into reconciler_flows (flow_id, backfilled_at) values ($1, now())
       on conflict (flow_id) do update set backfilled_at = now()`,
    [flowId],
  );
}
