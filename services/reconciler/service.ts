/**
 * `lockstep reconciler`: consumes lockstep.changes.v1 and lockstep.outcomes.v1, decides each input
 * in one Postgres transaction (state + seen ids + outbox), then lets the offset be committed
 * (STYLE.md rule 8). A relay publishes the outbox to lockstep.commands.<platform>.v1 and
 * lockstep.conflicts.v1 and marks rows sent: at-least-once, with deterministic command ids so
 * egress drops repeats. A record that cannot be decoded or decided goes to lockstep.dlq.v1 with
 * its reason and the partition moves on; only infrastructure failures (Postgres, Kafka) are retried.
 */
import avro from 'avsc';
import { Counter } from 'prom-client';
import { startRuntime, type Runtime } from '../app/runtime.ts';
import { pruneCutoff, prunedRowsCounter, startPruning } from '../core/db/index.ts';
import { categoryOf, isRetriable } from '../core/errors/index.ts';
import {
  createBatchConsumer,
  pickSourceTime,
  schemaText,
  sourceTimeHeader,
  type AvroSerde,
  type ConsumedRecord,
  type LockstepProducer,
} from '../core/kafka/index.ts';
import { canonicalLabelOn, platformFacts, PLATFORMS } from '../connectors/registry.ts';
import { createPeopleDirectory } from '../core/people/index.ts';
import { backoffDelay } from '../core/resilience/index.ts';
import { startScheduledVerify } from '../ops/verify-schedule.ts';
import type { ChangeEvent, WriteOutcome } from '../../schemas/generated/types.ts';
import { isChangeEvent } from './decide.ts';
import { ensureFlowStarts, type FlowStart } from './flow-starts.ts';
import { registerReconcilerGauges } from './metrics.ts';
import { deterministicId } from './ids.ts';
import { processChange, processOutcome, type ProcessDeps, type Processed } from './process.ts';
import { traceHeadersOf, withSpan, withTraceHeaders } from '../core/telemetry/index.ts';
import {
  createReconcilerStore,
  type ReconcilerStore,
  type RelayVerdict,
  type StoreTx,
  type StoredOutboxRow,
} from './store.ts';

const RELAY_IDLE_MS = 200;
const MAX_INFRA_ATTEMPTS = 8;

/** Records the flows met for the first time as beginning now, and says which await a backfill. */
async function flowStartsOf(rt: Runtime): Promise<Map<string, number>> {
  const ids = rt.config.flows.map((f) => f.id);
  let starts: Map<string, FlowStart>;
  // Postgres down at start-up is an outage, not a fault of ours: wait for it.
  for (let attempt = 0; ; attempt++) {
    try {
      starts = await ensureFlowStarts(rt.pool, ids);
      break;
    } catch (err) {
      const delay = backoffDelay(attempt, { baseMs: 200, maxMs: 10_000 });
      rt.logger.warn({ err, retryInMs: delay }, 'recording when each flow began failed; retrying');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  for (const [flow, s] of starts)
    if (s.backfilledAtMs === null)
      rt.logger.info(
        { flow, startedAt: new Date(s.startedAtMs).toISOString() },
        `flow ${flow} began ${new Date(s.startedAtMs).toISOString()} and has not been backfilled: live sync mirrors the items made since; the items that existed before wait for lockstep backfill --flow ${flow}`,
      );
  return new Map([...starts].map(([flow, s]) => [flow, s.startedAtMs]));
}

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
    people: createPeopleDirectory(config.people, PLATFORMS, { noEmail: (p) => platformFacts(p)?.noEmail }),
    flowStarts: await flowStartsOf(rt),
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
          const value = record.value;
          // The change's platform time rides along to egress (end-to-end latency): see source-time.ts.
          const carried = isChangeEvent(value)
            ? sourceTimeHeader(value.source.tsMs, value.source.platform)
            : {};
          const own = traceHeadersOf();
          const traceHeaders = own || isChangeEvent(value) ? { ...own, ...carried } : null;
          return store.transaction((tx) => {
            const traced: StoreTx = {
              ...tx,
              enqueue: (rows) => tx.enqueue(rows.map((row) => ({ ...row, traceHeaders }))),
            };
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
    onDecodeRetry: (info) => rt.onDecodeRetry(info),
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
  consumer.onCrash((err, restart) => rt.onConsumerCrash('reconciler', err, restart));
  registerReconcilerGauges(rt, `${config.kafka.clientId}-reconciler`, [topics.changes, topics.outcomes]);

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
  if (config.prune.enabled) {
    const r = config.kafka.retentionMs;
    const stopPruning = startPruning(rt.pool, {
      intervalMs: config.prune.intervalMs,
      batchSize: config.prune.batchSize,
      // A row is kept while the record it guards can still be read again from its topic: up to its
      // retention plus a segment's age (Kafka deletes whole segments), plus the margin.
      cutoff: () =>
        pruneCutoff(
          Date.now(),
          [r.changes, r.commands, r.outcomes],
          config.prune.segmentMs + config.prune.marginMs,
        ),
      counter: prunedRowsCounter(rt.metrics),
      logger,
    });
    rt.onShutdown({ name: 'pruning', run: stopPruning });
  }
  // The scheduled audit (reconciler.verifyEvery; off by default): services/ops/verify-schedule.ts.
  const verify = startScheduledVerify({
    config,
    pool: rt.pool,
    producer: rt.producer,
    metrics: rt.metrics,
    logger,
  });
  if (verify) rt.onShutdown({ name: 'scheduled verify', run: () => verify.stop() });
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

// Kafka's answers for a record that no retry can get onto its topic: larger than the topic's (or
// broker's) max.message.bytes, or rejected as invalid. Anything else is an outage: wait and retry.
const UNSENDABLE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD']);
// A row too large for its topic may be too large for the dead-letter topic too: above this its
// bytes stay in reconciler_outbox (the dead letter names the row) instead of the dead letter.
const MAX_DEAD_LETTER_VALUE = 256 * 1024;

function unsendableType(err: unknown): string | null {
  for (let e = err, depth = 0; e && depth < 8; depth++) {
    const type = typeof e === 'object' && 'type' in e ? String(e.type) : '';
    if (UNSENDABLE.has(type)) return type;
    e =
      typeof e === 'object' && 'cause' in e
        ? e.cause
        : typeof e === 'object' && 'originalError' in e
          ? e.originalError
          : null;
  }
  return null;
}

const validators = new Map<string, avro.Type>();
/** Why the payload does not fit its schema (it can never be encoded), or null if it does. */
function schemaViolation(row: StoredOutboxRow): string | null {
  let type = validators.get(row.schema);
  if (!type)
    validators.set(
      row.schema,
      (type = avro.Type.forSchema(JSON.parse(schemaText(row.schema)) as avro.Schema)),
    );
  const paths: string[] = [];
  const ok = type.isValid(row.payload, {
    errorHook: (path) => void paths.push(path.join('.') || '(record)'),
  });
  return ok ? null : `does not match the ${row.schema} schema at ${paths.slice(0, 5).join(', ')}`;
}

export interface OutboxSenderDeps {
  serde: AvroSerde;
  producer: LockstepProducer;
  deadLetter: Runtime['deadLetter'];
  published: Counter<'schema'>;
  logger: Runtime['logger'];
}

/**
 * Sends one outbox row. A row that can never be sent — its payload does not fit its schema, or
 * Kafka refuses it for its size — is dead-lettered (stage `reconciler`, category `validation`,
 * header `lockstep-outbox-id`) and reported as such, so the relay moves past it. Registry or
 * Kafka outages throw: the relay stops and tries the same row again.
 */
export function createOutboxSender(d: OutboxSenderDeps): (row: StoredOutboxRow) => Promise<RelayVerdict> {
  const deadLetter = async (
    row: StoredOutboxRow,
    reason: string,
    value: Buffer | null,
  ): Promise<RelayVerdict> => {
    d.logger.error({ outboxId: row.id, topic: row.topic, key: row.key, reason }, 'dead-lettering outbox row');
    const keep = value !== null && value.length <= MAX_DEAD_LETTER_VALUE;
    await d.deadLetter({
      stage: 'reconciler',
      topic: row.topic,
      key: Buffer.from(row.key),
      value: keep ? value : null,
      headers: {
        'lockstep-outbox-id': row.id,
        'lockstep-schema': row.schema,
        ...(keep ? {} : { 'lockstep-value-kept-in': `reconciler_outbox row ${row.id}` }),
      },
      error: { category: 'validation', message: reason, retriable: false },
    });
    return { deadLettered: reason };
  };
  return (row) =>
    // Published inside the trace of the decision that wrote the row: kafkajs' producer span (and
    // the context it puts in the record's headers) continues that trace.
    withTraceHeaders(row.traceHeaders, async () => {
      const violation = schemaViolation(row);
      if (violation)
        return deadLetter(row, `encoding outbox row ${row.id} for ${row.topic}: ${violation}`, null);
      const bytes = await d.serde.serialize(row.topic, row.payload); // throws only on a registry outage
      try {
        await d.producer.produceRaw(row.topic, row.key, bytes, pickSourceTime(row.traceHeaders));
      } catch (err) {
        const type = unsendableType(err);
        if (type === null) throw err;
        return deadLetter(
          row,
          `producing outbox row ${row.id} (${bytes.length} bytes) to ${row.topic}: ${type}`,
          bytes,
        );
      }
      d.published.inc({ schema: row.schema });
      return 'sent';
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
  const send = createOutboxSender({
    serde: rt.serde,
    producer: rt.producer,
    deadLetter: rt.deadLetter,
    published,
    logger: rt.logger,
  });
  let failures = 0;
  while (!stopping()) {
    let sent: number | null = 0;
    try {
      // null: another replica holds the relay; it is polled again after the idle wait.
      sent = await store.relay(send);
      failures = 0;
    } catch (err) {
      failures++;
      rt.logger.warn({ err: String(err), failures }, 'relaying the outbox failed; will retry');
    }
    if (sent !== null && sent > 0) continue;
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
