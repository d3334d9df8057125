/**
 * A consumer that hands over whole fetched batches (one partition at a time, in order), for
 * stages that fold records together — egress coalesces pending commands for one target. Offsets
 * are resolved record by record as the handler reports them done, and committed by kafkajs
 * after the batch, so a crash mid-batch re-delivers only what was not finished.
 */
import type { AvroSerde } from './registry.ts';
import type { ConsumedRecord, Headers, KafkaHandle } from './client.ts';

export interface BatchContext {
  /** Marks a record processed; its offset may be committed from now on. */
  done(offset: string): void;
  /** Keeps the group membership alive during long waits (rate limits, an open breaker). */
  heartbeat(): Promise<void>;
  /** True once the consumer is stopping or the partition was revoked: finish and return. */
  stopping(): boolean;
}

export interface BatchConsumeOptions<T> {
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  /** Records that fail to decode are passed to `poison` (with the error) instead of `eachBatch`. */
  poison(record: ConsumedRecord<null>, error: unknown): Promise<void>;
  eachBatch(records: ConsumedRecord<T>[], ctx: BatchContext): Promise<void>;
}

export interface BatchConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
  pause(topic: string): void;
  resume(topic: string): void;
  onCrash(fn: (err: unknown) => void): void;
}

export function createBatchConsumer<T>(
  handle: KafkaHandle,
  serde: AvroSerde,
  opts: BatchConsumeOptions<T>,
): BatchConsumer {
  const consumer = handle.kafka.consumer({ groupId: opts.groupId });
  let stopping = false;
  return {
    async start() {
      await consumer.connect();
      await consumer.subscribe({ topics: opts.topics, fromBeginning: opts.fromBeginning ?? false });
      await consumer.run({
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          const ctx: BatchContext = {
            done: (offset) => resolveOffset(offset),
            heartbeat: () => heartbeat(),
            stopping: () => stopping || !isRunning() || isStale(),
          };
          let records: ConsumedRecord<T>[] = [];
          for (const m of batch.messages) {
            if (ctx.stopping()) break;
            const base = {
              topic: batch.topic,
              partition: batch.partition,
              offset: m.offset,
              timestamp: m.timestamp,
              key: m.key?.toString('utf8') ?? null,
              raw: m.value,
              headers: toHeaders(m.headers),
            };
            try {
              if (m.value === null) throw new Error('empty record (tombstone)');
              records.push({ ...base, value: (await serde.deserialize(batch.topic, m.value)) as T });
            } catch (err) {
              // Decode failures are not retriable: hand over what came before (order), dead-letter
              // this one, and keep the partition moving.
              if (records.length) await opts.eachBatch(records, ctx);
              records = [];
              await opts.poison({ ...base, value: null }, err);
              resolveOffset(m.offset);
            }
          }
          if (records.length && !ctx.stopping()) await opts.eachBatch(records, ctx);
          await heartbeat();
        },
      });
    },
    async stop() {
      stopping = true;
      await consumer.disconnect();
    },
    pause: (topic) => consumer.pause([{ topic }]),
    resume: (topic) => consumer.resume([{ topic }]),
    onCrash: (fn) => void consumer.on(consumer.events.CRASH, (e) => fn(e.payload.error)),
  };
}

function toHeaders(h: Record<string, unknown> | undefined): Headers {
  const out: Headers = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    const first: unknown = Array.isArray(v) ? v[0] : v;
    if (first === undefined || first === null) continue;
    out[k] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}
