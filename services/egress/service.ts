/**
 * `lockstep egress --platform <p>`: one consumer group per platform on lockstep.commands.<p>.v1.
 * Commands for one target share a key, hence a partition, hence stay in order.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { boundConnectors, egressPort, peopleDirectory, rateLimitFor } from '../app/config.ts';
import { startRuntime } from '../app/runtime.ts';
import { commandsTopic, createBatchConsumer, registerConsumerLag } from '../core/kafka/index.ts';
import { prunedRowsCounter } from '../core/db/index.ts';
import { ERROR_CATEGORIES } from '../core/errors/index.ts';
import { resolveCommandPeople } from '../core/people/index.ts';
import { CircuitBreaker, RateBudget } from '../core/resilience/index.ts';
import type { AuditRecord, WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import { processCommands, type CommandMeta } from './egress.ts';
import { endToEndLatency } from './metrics.ts';
import { insertAuditRecords, startAuditLoop } from './audit.ts';
import { startNotesLoop } from './notes.ts';
import { platformFacts } from '../connectors/registry.ts';
import { createAppliedStore } from './store.ts';

export async function runEgress(platform: string): Promise<void> {
  const rt = await startRuntime(`egress-${platform}`, (c) => egressPort(c, platform));
  const { config, logger, producer } = rt;
  const connector = boundConnectors(config).get(platform);
  if (!connector)
    throw new Error(`starting egress for ${platform}: connectors.${platform} is not configured`);
  const topic = commandsTopic(config.kafka.topics, platform);
  for (const warning of connector.startupWarnings?.() ?? []) logger.warn({ platform }, warning);

  let botUserId: string | null = null;
  try {
    botUserId = await connector.resolveBotUserId();
  } catch (err) {
    logger.warn({ platform, err: String(err) }, 'resolving the bot user failed; continuing without it');
  }
  const limits = rateLimitFor(config, platform);
  // Every request the applier's SDK clients make draws from this budget (and corrects it from the
  // platform's rate-limit headers), not one token per command.
  const budget = new RateBudget({ limit: limits.limit, perMs: limits.perMs });
  const platformApplier = connector.createApplier(botUserId, budget);
  // The `people:` overrides first: a command naming a person by email gets their id here, and the
  // connector looks the email up only for people without one (core/people).
  const people = peopleDirectory(config);
  const applier: typeof platformApplier = {
    apply: (cmd) => platformApplier.apply(resolveCommandPeople(cmd, people, platform)),
    findByMarker: (query) => platformApplier.findByMarker(query),
  };
  const breakerState = new Gauge({
    name: 'lockstep_egress_breaker_open',
    help: '1 while the platform circuit breaker is open (its consumer paused)',
    labelNames: ['platform'],
    registers: [rt.metrics],
  });
  breakerState.set({ platform }, 0);
  let consumer: ReturnType<typeof createBatchConsumer<WriteCommand>> | undefined = undefined;
  const breaker = new CircuitBreaker({
    failureThreshold: config.egress.breaker.failureThreshold,
    openMs: config.egress.breaker.openMs,
    onStateChange: (s) => {
      breakerState.set({ platform }, s === 'open' ? 1 : 0);
      logger.warn({ platform, state: s }, `circuit breaker ${s}`);
      // Open: stop fetching more commands (they wait in Kafka); the batch in hand waits for the probe.
      if (s === 'open') consumer?.pause(topic);
      else consumer?.resume(topic);
    },
  });
  const metrics = {
    commands: new Counter({
      name: 'lockstep_egress_commands_total',
      help: 'Commands by result (applied, already_applied, skipped_stale, dead_lettered, target_gone)',
      labelNames: ['platform', 'result'] as const,
      registers: [rt.metrics],
    }),
    apiCalls: new Counter({
      name: 'lockstep_egress_api_calls_total',
      help: 'Apply attempts against the platform by result category',
      labelNames: ['platform', 'result'] as const,
      registers: [rt.metrics],
    }),
    applySeconds: new Histogram({
      name: 'lockstep_egress_apply_seconds',
      help: 'Time to apply one (coalesced) command',
      labelNames: ['platform'] as const,
      registers: [rt.metrics],
    }),
    infraRetries: new Counter({
      name: 'lockstep_egress_infra_retries_total',
      help: 'Retries of recording, publishing or dead-lettering an outcome (Postgres/Kafka trouble; the platform is not called again)',
      labelNames: ['platform', 'step'] as const,
      registers: [rt.metrics],
    }),
    unresolved: new Counter({
      name: 'lockstep_egress_unresolved_fields_total',
      help: 'Fields a write left as they were because the value has no counterpart on the platform (no user with that email, no such status or priority), by field',
      labelNames: ['platform', 'field'] as const,
      registers: [rt.metrics],
    }),
    credentialsRefused: new Gauge({
      name: 'lockstep_egress_credentials_refused',
      help: "1 while the platform refuses Lockstep's credentials (401) and commands are held, not dead-lettered",
      labelNames: ['platform'] as const,
      registers: [rt.metrics],
    }),
  };
  metrics.credentialsRefused.set({ platform }, 0);
  for (const result of ['ok', ...ERROR_CATEGORIES]) metrics.apiCalls.inc({ platform, result }, 0);
  for (const field of ['assignee', 'status', 'priority']) metrics.unresolved.inc({ platform, field }, 0);
  // The egress budget's state at scrape time (`lockstep report` shows it as rate-limit headroom).
  new Gauge({
    name: 'lockstep_egress_rate_budget_headroom_ratio',
    help: "Share of the platform's request budget left now (tokens out of the burst, 0..1)",
    labelNames: ['platform'] as const,
    registers: [rt.metrics],
    collect() {
      this.set({ platform }, budget.headroom().ratio);
    },
  });
  new Gauge({
    name: 'lockstep_egress_rate_budget_wait_seconds',
    help: 'How long the next request to the platform would wait for budget (a Retry-After or an empty budget)',
    labelNames: ['platform'] as const,
    registers: [rt.metrics],
    collect() {
      this.set({ platform }, budget.headroom().waitMs / 1000);
    },
  });
  const latency = endToEndLatency(rt.metrics, platform);
  const publishOutcome = async (o: WriteOutcome) => {
    await producer.produce(config.kafka.topics.outcomes, o.linkId, o);
    latency.observe(o);
  };

  // The audit log's relay and retention (audit.ts): this platform's rows, Postgres → lockstep.audit.v1.
  const audit = startAuditLoop(
    {
      pool: rt.pool,
      platform,
      publish: async (rec: AuditRecord) => {
        await producer.produce(
          config.kafka.topics.audit,
          `${rec.platform}:${rec.targetKey ?? rec.targetId ?? ''}`,
          rec,
        );
      },
      logger,
      published: new Counter({
        name: 'lockstep_audit_published_total',
        help: 'Audit records published to the audit topic',
        labelNames: ['platform'] as const,
        registers: [rt.metrics],
      }),
    },
    { ...config.audit, pruned: prunedRowsCounter(rt.metrics) },
  );
  // Visible notes (notes.ts): posted in the background from the `item_notes` outbox, never in a
  // write's way; the breaker holds them back like writes.
  const notesPosted = new Counter({
    name: 'lockstep_egress_notes_total',
    help: 'Visible notes (a comment on the item saying a field could not be carried) by result: posted, already_posted (found by its marker after a lost answer), retried, held (the platform refused the credentials; not an attempt), failed',
    labelNames: ['platform', 'result'] as const,
    registers: [rt.metrics],
  });
  for (const result of ['posted', 'already_posted', 'retried', 'held', 'failed'])
    notesPosted.inc({ platform, result }, 0);
  const notesLoop = startNotesLoop({
    pool: rt.pool,
    platform,
    applier: platformApplier,
    classify: (e) => connector.classifyError(e),
    describe: (e) => connector.describeError(e),
    insertAudit: insertAuditRecords,
    onAudited: () => audit.wake(),
    allowed: () => breaker.allows(),
    retry: {
      maxAttempts: config.egress.maxAttempts,
      baseMs: config.egress.backoffBaseMs,
      maxMs: config.egress.backoffMaxMs,
    },
    logger,
    notes: notesPosted,
  });
  const notesByFlow = new Map(config.flows.map((f) => [f.id, f.notes]));
  const nameOf = (p: string) => platformFacts(p)?.displayName ?? null;
  const notes = {
    // A command of a flow no longer configured gets no note (its audit record stays).
    enabled: (flowId: string) =>
      notesByFlow.get(flowId) === 'comment' && platformApplier.postNote !== undefined,
    platformName: nameOf(platform) ?? platform,
    nameOf,
  };
  const applied = createAppliedStore(
    rt.pool,
    platform,
    () => audit.wake(),
    () => notesLoop.wake(),
  );

  consumer = createBatchConsumer<WriteCommand>(rt.kafka, rt.serde, {
    groupId: `${config.kafka.clientId}-egress-${platform}`,
    topics: [topic],
    fromBeginning: true,
    onDecodeRetry: (info) => rt.onDecodeRetry(info),
    async poison(record, error) {
      await rt.deadLetter({
        stage: `egress-${platform}`,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        key: record.key === null ? null : Buffer.from(record.key),
        value: record.raw,
        headers: record.headers,
        error: { category: 'validation', message: `decoding command: ${String(error)}`, retriable: false },
      });
    },
    async eachBatch(records, ctx) {
      latency.track(records);
      const pending = records.map((r) => ({
        cmd: r.value,
        meta: {
          topic: r.topic,
          partition: r.partition,
          offset: r.offset,
          key: r.key,
          raw: r.raw,
          headers: r.headers,
        } satisfies CommandMeta,
      }));
      const finished = await processCommands(
        {
          platform,
          applier,
          classify: (e) => connector.classifyError(e),
          describe: (e) => connector.describeError(e),
          budget,
          breaker,
          applied,
          publishOutcome,
          async deadLetter(part, error, attempts, firstFailedAtMs) {
            await rt.deadLetter({
              stage: `egress-${platform}`,
              topic: part.meta.topic,
              partition: part.meta.partition,
              offset: part.meta.offset,
              key: part.meta.key === null ? null : Buffer.from(part.meta.key),
              value: part.meta.raw,
              headers: part.meta.headers,
              error,
              attempts,
              firstFailedAtMs,
            });
          },
          retry: {
            maxAttempts: config.egress.maxAttempts,
            baseMs: config.egress.backoffBaseMs,
            maxMs: config.egress.backoffMaxMs,
          },
          notes,
          heartbeat: () => ctx.heartbeat(),
          stopping: () => ctx.stopping(),
          sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
          now: Date.now,
          logger,
          metrics,
        },
        pending,
      );
      // Only what was finished (a prefix): after a stop or a revocation the rest is redelivered.
      for (const p of finished) ctx.done(p.meta.offset);
      latency.forget(records);
    },
  });
  consumer.onCrash((err, restart) => rt.onConsumerCrash(`egress-${platform}`, err, restart));
  await consumer.start();
  rt.onShutdown({ name: 'consumer', run: () => consumer?.stop() });
  rt.onShutdown({ name: 'notes outbox', run: () => notesLoop.stop() });
  rt.onShutdown({ name: 'audit relay', run: () => audit.stop() });
  const lag = registerConsumerLag(rt.kafka, rt.metrics, `${config.kafka.clientId}-egress-${platform}`, [
    topic,
  ]);
  rt.onShutdown({ name: 'consumer lag reader', run: () => lag.close() });
  rt.http.addReadinessCheck('breaker', () => {
    if (!breaker.allows()) throw new Error(`${platform} circuit breaker open`);
  });
  const address = await rt.http.listen();
  logger.info({ platform, topic, ...address }, 'egress running');
}
