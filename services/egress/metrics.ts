/**
 * End-to-end latency: from the change on its platform (the `lockstep-source-ts-ms` header the
 * reconciler puts on the commands a change leads to) to the write applied here. Observed once per
 * command folded into an applied write; commands without the header (those that follow an
 * outcome rather than a change) and replays (already applied, skipped as stale) are not observed.
 * Labels: the target platform and the source platform, both bounded by the configured connectors.
 */
import { Histogram, type Registry } from 'prom-client';
import { SOURCE_PLATFORM_HEADER, sourceTimeOf, type ConsumedRecord } from '../core/kafka/index.ts';
import type { WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';

export function endToEndLatency(registry: Registry, platform: string, now: () => number = Date.now) {
  const histogram = new Histogram({
    name: 'lockstep_sync_latency_seconds',
    help: 'End to end: from the change on the source platform to the write applied on the target platform',
    labelNames: ['platform', 'source_platform'] as const,
    buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
    registers: [registry],
  });
  const pending = new Map<string, { tsMs: number; source: string }>();
  return {
    /** Remembers the source time of each command of a batch (call before processing it). */
    track(records: ConsumedRecord<WriteCommand>[]) {
      for (const r of records) {
        const tsMs = sourceTimeOf(r.headers);
        const source = r.headers[SOURCE_PLATFORM_HEADER];
        if (tsMs !== null) pending.set(r.value.commandId, { tsMs, source: source ?? 'unknown' });
      }
    },
    /** Observes an outcome once it is published. */
    observe(o: WriteOutcome) {
      for (const id of [o.commandId, ...o.coalesced]) {
        const p = pending.get(id);
        pending.delete(id);
        if (p && o.status === 'applied')
          histogram.observe({ platform, source_platform: p.source }, Math.max(0, now() - p.tsMs) / 1000);
      }
    },
    /** Forgets a batch's commands (call after processing it: what was not finished is redelivered). */
    forget(records: ConsumedRecord<WriteCommand>[]) {
      for (const r of records) pending.delete(r.value.commandId);
    },
  };
}
