/**
 * A consumer that hands over whole fetched batches (one partition at a time, in order), for
 * stages that fold records together — egress coalesces pending commands for one target. Offsets
 * are resolved record by record as the handler reports them done, and committed by kafkajs
 * after the batch, so a crash mid-batch re-delivers only what was not finished.
 *
 * Two rules keep "committed" meaning "processed":
 * - The committed position never passes a record that is not done: `done` on a later record
 *   (a handler that stopped early, a dead-lettered record after it) only moves the position once
 *   everything before it is done too.
 * - Only a record that can never be decoded is poison (see `isUndecodable`). When decoding fails
 *   because the registry is unreachable or erroring, the consumer waits on that record — retrying
 *   with backoff, heartbeating, committing nothing past it — until the registry answers or the
 *   consumer stops (the record is then re-delivered). A registry outage is not bad input.
 */
import { backoffDelay } from '../resilience/index.ts';
import { isUndecodable, type AvroSerde } from './registry.ts';
import type { ConsumedRecord, Headers, KafkaHandle } from './client.ts';

export interface BatchContext {
  /** Marks a record processed; its offset is committed once every record before it is done too. */
  done(offset: string): void;
  /** Keeps the group membership alive during long waits (rate limits, an open breaker). */
  heartbeat(): Promise<void>;
  /** True once the consumer is stopping or the partition was revoked: finish and return. */
  stopping(): boolean;
}

export interface DecodeRetry {
  topic: string;
  partition: number;
  offset: string;
  attempt: number;
  delayMs: number;
  error: unknown;
}

export interface BatchConsumeOptions<T> {
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  /** Records that can never be decoded are passed to `poison` (with the error) instead of `eachBatch`. */
  poison(record: ConsumedRecord<null>, error: unknown): Promise<void>;
  eachBatch(records: ConsumedRecord<T>[], ctx: BatchContext): Promise<void>;
  /** Told of each retriable decode failure before the wait (log it, count it). */
  onDecodeRetry?(info: DecodeRetry): void;
  /** Backoff between decode attempts while the registry is failing (default 250 ms doubling to 15 s). */
  decodeBackoff?: { baseMs: number; maxMs: number };
}

export interface BatchConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
  pause(topic: string): void;
  resume(topic: string): void;
  /** `restart`: whether kafkajs starts the consumer again (false: it is stopped for good). */
  onCrash(fn: (err: unknown, restart: boolean) => void): void;
}

/**
 * Resolves offsets only over the done prefix of a batch, so a `done` out of order cannot move the
 * committed position past a record still to be processed.
 */
function prefixResolver(offsets: string[], resolve: (offset: string) => void) {
  const done = new Set<string>();
  let next = 0; // index of the first record not done
  return {
    done(offset: string) {
      done.add(offset);
      let advanced = false;
      while (next < offsets.length && done.has(offsets[next]!)) {
        next++;
        advanced = true;
      }
      if (advanced) resolve(offsets[next - 1]!);
    },
    /** True when every record before `offset` is done. */
    doneBefore(offset: string): boolean {
      return offsets[next] === offset || next >= offsets.length;
    },
  };
}

export function createBatchConsumer<T>(
  handle: KafkaHandle,
  serde: AvroSerde,
  opts: BatchConsumeOptions<T>,
): BatchConsumer {
  const consumer = handle.kafka.consumer({ groupId: opts.groupId });
  const backoff = opts.decodeBackoff ?? { baseMs: 250, maxMs: 15_000 };
  let stopping = false;
  let wake: (() => void) | null = null;
  /** Sleeps `ms`, or less if the consumer is stopped meanwhile. */
  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });
  return {
    async start() {
      await consumer.connect();
      await consumer.subscribe({ topics: opts.topics, fromBeginning: opts.fromBeginning ?? false });
      await consumer.run({
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          const progress = prefixResolver(
            batch.messages.map((m) => m.offset),
            resolveOffset,
          );
          const ctx: BatchContext = {
            done: (offset) => progress.done(offset),
            heartbeat: () => heartbeat(),
            stopping: () => stopping || !isRunning() || isStale(),
          };
          let records: ConsumedRecord<T>[] = [];
          const flush = async () => {
            if (!records.length) return;
            const handed = records;
            records = [];
            await opts.eachBatch(handed, ctx);
          };
          for (const m of batch.messages) {
            if (ctx.stopping()) return;
            const base = {
              topic: batch.topic,
              partition: batch.partition,
              offset: m.offset,
              timestamp: m.timestamp,
              key: m.key?.toString('utf8') ?? null,
              raw: m.value,
              headers: toHeaders(m.headers),
            };
            let poison: unknown = undefined;
            for (let attempt = 1; ; attempt++) {
              try {
                if (m.value === null) throw new Error('empty record (tombstone)');
                records.push({ ...base, value: (await serde.deserialize(batch.topic, m.value)) as T });
                break;
              } catch (err) {
                if (m.value === null || isUndecodable(err)) {
                  poison = err;
                  break;
                }
                // The registry is down or failing, not the record: hand over what came before (in
                // order), then wait on this record without committing past it.
                await flush();
                if (ctx.stopping()) return;
                const delayMs = backoffDelay(attempt, backoff);
                opts.onDecodeRetry?.({
                  topic: batch.topic,
                  partition: batch.partition,
                  offset: m.offset,
                  attempt,
                  delayMs,
                  error: err,
                });
                await heartbeat();
                await nap(delayMs);
                if (ctx.stopping()) return;
              }
            }
            if (poison === undefined) continue;
            // Hand over what came before (order), then dead-letter this one — unless the handler
            // stopped short of it: then it and what follows are re-delivered, not skipped.
            await flush();
            if (ctx.stopping() || !progress.doneBefore(m.offset)) return;
            await opts.poison({ ...base, value: null }, poison);
            progress.done(m.offset);
          }
          if (!ctx.stopping()) await flush();
          await heartbeat();
        },
      });
    },
    async stop() {
      stopping = true;
      wake?.();
      await consumer.disconnect();
    },
    pause: (topic) => consumer.pause([{ topic }]),
    resume: (topic) => consumer.resume([{ topic }]),
    onCrash: (fn) => void consumer.on(consumer.events.CRASH, (e) => fn(e.payload.error, e.payload.restart)),
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
