/**
 * `lockstep reconciler`: consumes lockstep.changes.v1 and lockstep.outcomes.v1, decides each input
 * in one Postgres transaction (state + seen ids + outbox), then lets the offset be committed
 * (STYLE.md rule 8). A relay publishes the outbox to lockstep.commands.<platform>.v1 and
 * lockstep.conflicts.v1 and marks rows sent: at-least-once, with deterministic command ids so
 * egress drops repeats. A record that cannot be decoded or decided goes to lockstep.dlq.v1 with
 * its reason and the partition moves on; only infrastructure failures (Postgres, Kafka) are retried.
 */
import { Counter } from 'prom-client';
import { startRuntime, type Runtime } from '../app/runtime.ts';
import { categoryOf, isRetriable } from '../core/errors/index.ts';
import { createBatchConsumer, type ConsumedRecord } from '../core/kafka/index.ts';
import { canonicalLabelOn } from '../connectors/registry.ts';
import { backoffDelay } from '../core/resilience/index.ts';
import type { ChangeEvent, WriteOutcome } from '../../schemas/generated/types.ts';
import { isChangeEvent } from './decide.ts';
import { deterministicId } from './ids.ts';
import { processChange, processOutcome, type ProcessDeps, type Processed } from './process.ts';
import { traceHeadersOf, withSpan, withTraceHeaders } from '../core/telemetry/index.ts';
import { createReconcilerStore, type ReconcilerStore, type StoreTx, type StoredOutboxRow } from './store.ts';

const RELAY_IDLE_MS = 200;
const MAX_INFRA_ATTEMPTS = 8;

export async function runReconciler(): Promise<void> {
  const rt = await startRuntime('reconciler', (c) => c.reconciler.port);
  const { config, logger } = rt;
  const store = createReconcilerStore(rt.pool);
  const deps: ProcessDeps = {
    flows: config.flows,
    topics: config.kafka.topics,
    ids: deterministicId,
    now: Date.now,
    canonicalLabel: canonicalLabelOn,
  };
  const metrics = {
    inputs: new Counter({
      name: 'lockstep_reconciler_inputs_total',
      help: 'Changes and outcomes decided, by topic and result (decided, dead_lettered)',
      labelNames: ['topic', 'result'] as const,
      registers: [rt.metrics],
    }),
    notes: new Counter({
      name: 'lockstep_reconciler_notes_total',
      help: 'Decision notes by code (duplicate, stale, drift, held, unlinked, …)',
      labelNames: ['code'] as const,
      registers: [rt.metrics],
    }),
    published: new Counter({
      name: 'lockstep_reconciler_published_total',
      help: 'Outbox rows published, by schema',
      labelNames: ['schema'] as const,
      registers: [rt.metrics],
    }),
  };
  if (config.flows.length === 0) logger.warn('no flows configured: every change will be ignored');

  const topics = config.kafka.topics;
  // kafkajs' batch instrumentation starts each record's span in a new trace (linked, not parented,
  // to the producer's). So each decision runs in a span parented by the trace context in the
  // record's own headers, and the outbox rows it writes carry that context on to the relay.
  const handle = async (record: ConsumedRecord<ChangeEvent | WriteOutcome>): Promise<Processed> =>
    withTraceHeaders(record.headers, () =>
      withSpan(
        `reconcile ${record.topic}`,
        () => {
          const traceHeaders = traceHeadersOf();
          return store.transaction((tx) => {
            const traced: StoreTx = {
              ...tx,
              enqueue: (rows) => tx.enqueue(rows.map((row) => ({ ...row, traceHeaders }))),
            };
            const value = record.value;
            return isChangeEvent(value)
              ? processChange(traced, deps, value)
              : processOutcome(traced, deps, value);
          });
        },
        {
          'messaging.destination.name': record.topic,
          'messaging.destination.partition.id': String(record.partition),
          'messaging.kafka.offset': record.offset,
        },
      ),
    );

  let stopping = false;
  let wakeRelay: (() => void) | null = null;
  const consumer = createBatchConsumer<ChangeEvent | WriteOutcome>(rt.kafka, rt.serde, {
    groupId: `${config.kafka.clientId}-reconciler`,
    topics: [topics.changes, topics.outcomes],
    fromBeginning: true,
    async poison(record, error) {
      metrics.inputs.inc({ topic: record.topic, result: 'dead_lettered' });
      await deadLetter(rt, record, 'validation', `decoding ${record.topic} record: ${String(error)}`);
    },
    async eachBatch(records, ctx) {
      for (const record of records) {
        if (ctx.stopping()) return;
        for (let attempt = 1; ; attempt++) {
          try {
            const out = await handle(record);
            for (const n of out.notes) metrics.notes.inc({ code: n.code });
            logger.debug(
              { topic: record.topic, key: record.key, commands: out.commands.length, notes: out.notes },
              'decided',
            );
            metrics.inputs.inc({ topic: record.topic, result: 'decided' });
            break;
          } catch (err) {
            if (isRetriable(err) && attempt < MAX_INFRA_ATTEMPTS && !ctx.stopping()) {
              const ms = backoffDelay(attempt, { baseMs: 200, maxMs: 10_000 });
              logger.warn(
                { err: String(err), attempt, ms },
                'reconciling failed on infrastructure; retrying',
              );
              await ctx.heartbeat();
              await new Promise((r) => setTimeout(r, ms));
              continue;
            }
            if (isRetriable(err)) throw err; // still down: let kafkajs restart from the last done offset
            // The decision itself failed on this input: it would fail again. Park it and move on.
            logger.error(
              { err: String(err), topic: record.topic, offset: record.offset },
              'dead-lettering input',
            );
            metrics.inputs.inc({ topic: record.topic, result: 'dead_lettered' });
            await deadLetter(
              rt,
              record,
              categoryOf(err),
              `reconciling ${record.topic} record: ${String(err)}`,
            );
            break;
          }
        }
        ctx.done(record.offset);
        wakeRelay?.();
      }
    },
  });
  consumer.onCrash((err) =>
    logger.error({ err: String(err) }, 'reconciler consumer crashed; kafkajs restarts it'),
  );

  const relayDone = runRelay(
    rt,
    store,
    metrics.published,
    () => stopping,
    (wake) => (wakeRelay = wake),
  );
  await consumer.start();
  rt.onShutdown({ name: 'consumer', run: () => consumer.stop() });
  rt.onShutdown({
    name: 'outbox relay',
    run: async () => {
      stopping = true;
      wakeRelay?.();
      await relayDone;
    },
  });
  const address = await rt.http.listen();
  logger.info({ flows: config.flows.map((f) => f.id), ...address }, 'reconciler running');
}

async function deadLetter(
  rt: Runtime,
  record: ConsumedRecord<unknown>,
  category: ReturnType<typeof categoryOf>,
  message: string,
): Promise<void> {
  await rt.deadLetter({
    stage: 'reconciler',
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    key: record.key === null ? null : Buffer.from(record.key),
    value: record.raw,
    headers: record.headers,
    error: { category, message, retriable: false },
  });
}

/** Publishes outbox rows until stopped; woken after each decision, and polls when idle. */
async function runRelay(
  rt: Runtime,
  store: ReconcilerStore,
  published: Counter<'schema'>,
  stopping: () => boolean,
  setWake: (wake: () => void) => void,
): Promise<void> {
  // Published inside the trace of the decision that wrote the row: kafkajs' producer span (and the
  // context it puts in the record's headers) continues that trace.
  const send = async (row: StoredOutboxRow) => {
    await withTraceHeaders(row.traceHeaders, async () => {
      if (row.schema === 'WriteCommand')
        await rt.producer.produce<'WriteCommand'>(row.topic, row.key, row.payload);
      else await rt.producer.produce<'Conflict'>(row.topic, row.key, row.payload);
    });
    published.inc({ schema: row.schema });
  };
  let failures = 0;
  while (!stopping()) {
    let sent = 0;
    try {
      sent = await store.relay(send);
      failures = 0;
    } catch (err) {
      failures++;
      rt.logger.warn({ err: String(err), failures }, 'relaying the outbox failed; will retry');
    }
    if (sent > 0) continue;
    const idle = failures > 0 ? backoffDelay(failures, { baseMs: 200, maxMs: 10_000 }) : RELAY_IDLE_MS;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, idle);
      setWake(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
  // One last pass so what was decided before shutdown is not left waiting for the next start.
  await store
    .relay(send)
    .catch((err: unknown) => rt.logger.warn({ err: String(err) }, 'final outbox relay failed'));
}
