import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { sourceTimeHeader, type ConsumedRecord } from '../core/kafka/index.ts';
import type { WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import { endToEndLatency } from './metrics.ts';

const record = (commandId: string, headers: Record<string, string>) =>
  ({ headers, value: { commandId } }) as Pick<ConsumedRecord<WriteCommand>, 'headers'> & {
    value: Pick<WriteCommand, 'commandId'>;
  } as ConsumedRecord<WriteCommand>;
const outcome = (commandId: string, status: WriteOutcome['status'], coalesced: string[] = []) =>
  ({ commandId, status, coalesced }) as Pick<
    WriteOutcome,
    'commandId' | 'status' | 'coalesced'
  > as WriteOutcome;

async function counts(registry: Registry) {
  const [m] = await registry.getMetricsAsJSON();
  const values = (m?.values ?? []) as {
    metricName?: string;
    labels: Record<string, unknown>;
    value: number;
  }[];
  const count = values.filter((v) => v.metricName === 'lockstep_sync_latency_seconds_count');
  const sum = values.filter((v) => v.metricName === 'lockstep_sync_latency_seconds_sum');
  return { count, sum };
}

test('latency is observed once per command folded into an applied write, from its source time', async () => {
  const registry = new Registry();
  let now = 10_000;
  const l = endToEndLatency(registry, 'jira', () => now);
  const batch = [
    record('a', sourceTimeHeader(7_000, 'linear')),
    record('b', sourceTimeHeader(8_000, 'linear')),
    record('c', {}), // follows an outcome: no source time
    record('d', sourceTimeHeader(9_000, 'linear')),
  ];
  l.track(batch);
  l.observe(outcome('b', 'applied', ['a', 'c']));
  l.observe(outcome('d', 'already_applied')); // a replay: not a sync
  l.observe(outcome('b', 'applied')); // published twice: counted once
  now = 20_000;
  l.forget(batch);
  l.observe(outcome('d', 'applied')); // forgotten after its batch
  const { count, sum } = await counts(registry);
  assert.equal(count.length, 1);
  assert.deepEqual(count[0]!.labels, { platform: 'jira', source_platform: 'linear' });
  assert.equal(count[0]!.value, 2);
  assert.equal(sum[0]!.value, 3 + 2);
});
