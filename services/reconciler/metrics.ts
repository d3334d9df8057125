/**
 * The reconciler's gauges read at scrape time: its consumer group's lag, and the conflicts waiting
 * for a person (`reconciler_conflicts` rows with status open), counted per flow with the age of the
 * oldest. Flow ids come from the configuration, so the label stays bounded.
 */
import { Gauge } from 'prom-client';
import type { Runtime } from '../app/runtime.ts';
import { registerConsumerLag } from '../core/kafka/index.ts';

export function registerReconcilerGauges(rt: Runtime, groupId: string, topics: string[]): void {
  const lag = registerConsumerLag(rt.kafka, rt.metrics, groupId, topics);
  rt.onShutdown({ name: 'consumer lag reader', run: () => lag.close() });
  const flows = rt.config.flows.map((f) => f.id);
  let latest: Promise<Map<string, { open: number; oldestMs: number | null }>> | null = null;
  // Both gauges are filled from one query per scrape.
  const read = () =>
    (latest ??= rt.pool
      .query<{ flow_id: string; open: string; oldest_ms: string | null }>(
        `select flow_id, count(*) as open, min((record->>'tsMs')::bigint) as oldest_ms
           from reconciler_conflicts where status = 'open' group by flow_id`,
      )
      .then(
        (r) =>
          new Map(
            r.rows.map((x) => [
              x.flow_id,
              { open: Number(x.open), oldestMs: x.oldest_ms === null ? null : Number(x.oldest_ms) },
            ]),
          ),
      )
      .finally(() => setTimeout(() => (latest = null), 500)));
  new Gauge({
    name: 'lockstep_reconciler_conflicts_open',
    help: 'Conflicts waiting for a person to resolve them (lockstep conflicts list), per flow',
    labelNames: ['flow'] as const,
    registers: [rt.metrics],
    async collect() {
      this.reset();
      const byFlow = await read().catch(() => null);
      if (!byFlow) return; // Postgres unreachable: no series this scrape rather than a wrong zero
      for (const flow of flows) this.set({ flow }, byFlow.get(flow)?.open ?? 0);
    },
  });
  new Gauge({
    name: 'lockstep_reconciler_conflict_oldest_open_age_seconds',
    help: 'How long the oldest open conflict of the flow has waited (0 when none is open)',
    labelNames: ['flow'] as const,
    registers: [rt.metrics],
    async collect() {
      this.reset();
      const byFlow = await read().catch(() => null);
      if (!byFlow) return;
      const now = Date.now();
      for (const flow of flows) {
        const oldest = byFlow.get(flow)?.oldestMs ?? null;
        this.set({ flow }, oldest === null ? 0 : Math.max(0, (now - oldest) / 1000));
      }
    },
  });
}
