/**
 * Consumer lag as Prometheus sees it: `lockstep_consumer_lag{group, topic, partition}` = the
 * partition's log-end offset minus the group's committed offset, read through the admin API when
 * /metrics is scraped.
 *
 * Why the admin API and not the consumer's own view (kafkajs' `batch.highWatermark` in
 * eachBatch): the consumer only learns the high watermark when a batch arrives, so a consumer that
 * is paused (an open breaker), stuck on a record, crashed or rebalancing would keep reporting the
 * last, small lag while records pile up. Committed offsets against the log end are true whatever
 * the consumer is doing, and they are what KEDA and other Kafka tooling read. The cost is two
 * admin requests per scrape; a failed read (Kafka unreachable) drops the series for that scrape
 * instead of showing stale numbers, and `lockstep_consumer_lag_read_errors_total` counts it.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { KafkaHandle } from './client.ts';

const READ_TIMEOUT_MS = 3000;

export interface ConsumerLagMetric {
  /** Disconnects the admin client the gauge reads with. */
  close(): Promise<void>;
}

export function registerConsumerLag(
  handle: KafkaHandle,
  registry: Registry,
  groupId: string,
  topics: string[],
): ConsumerLagMetric {
  type Admin = ReturnType<KafkaHandle['kafka']['admin']>;
  let admin: Promise<Admin> | null = null;
  const connected = () =>
    (admin ??= (async () => {
      const a = handle.kafka.admin();
      try {
        await a.connect();
      } catch (err) {
        admin = null;
        throw err;
      }
      return a;
    })());
  const errors = new Counter({
    name: 'lockstep_consumer_lag_read_errors_total',
    help: 'Scrapes whose consumer-lag read from Kafka failed (the lag series are absent for that scrape)',
    labelNames: ['group'] as const,
    registers: [registry],
  });
  errors.inc({ group: groupId }, 0);
  const read = async (): Promise<{ topic: string; partition: number; lag: number }[]> => {
    const a = await connected();
    const out: { topic: string; partition: number; lag: number }[] = [];
    const committed = await a.fetchOffsets({ groupId, topics });
    for (const topic of topics) {
      const ends = await a.fetchTopicOffsets(topic);
      const mine = committed.find((t) => t.topic === topic)?.partitions ?? [];
      for (const end of ends) {
        const c = mine.find((p) => p.partition === end.partition)?.offset;
        // Nothing committed yet: everything still in the log is unread.
        const from = c === undefined || c === '-1' ? Number(end.low) : Number(c);
        out.push({ topic, partition: end.partition, lag: Math.max(0, Number(end.high) - from) });
      }
    }
    return out;
  };
  let inflight: ReturnType<typeof read> | null = null;
  new Gauge({
    name: 'lockstep_consumer_lag',
    help: "Records not yet committed by the consumer group: the partition's log end minus the group's committed offset",
    labelNames: ['group', 'topic', 'partition'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      let timer: NodeJS.Timeout | undefined;
      try {
        // One read at a time: while Kafka hangs, later scrapes wait on the same read, not pile up.
        const rows = await Promise.race([
          (inflight ??= read().finally(() => (inflight = null))),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('timed out')), READ_TIMEOUT_MS);
          }),
        ]);
        for (const r of rows)
          this.set({ group: groupId, topic: r.topic, partition: String(r.partition) }, r.lag);
      } catch {
        errors.inc({ group: groupId });
      } finally {
        clearTimeout(timer);
      }
    },
  });
  return {
    async close() {
      const a = admin;
      admin = null;
      if (a) await (await a.catch(() => null))?.disconnect();
    },
  };
}
