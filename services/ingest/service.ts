/**
 * `lockstep ingest`: the webhook receiver plus one poller per configured connector.
 */
import { Counter, Gauge } from 'prom-client';
import { topicOffsets } from '../core/kafka/index.ts';
import type { BoundConnector, RejectedItem, WebhookRequest } from '../connectors/types.ts';
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import { boundConnectors, rateLimitFor } from '../app/config.ts';
import { RateBudget } from '../core/resilience/index.ts';
import { startRuntime } from '../app/runtime.ts';
import { resolveBotUserIds } from './bot-users.ts';
import { runPollLoop } from './poller.ts';
import { createCursorStore, createDeliveryStore, createSecretStore } from './store.ts';
import { changeKey, handleWebhook, platformLabel, UNKNOWN_PLATFORM_LABEL } from './webhooks.ts';

/**
 * A webhook is answered 503 when Kafka has not acknowledged its events in time (ingest.publishTimeoutMs):
 * a prompt answer is a clean retry for the platform, a hung request a timeout. A publish that
 * completes after the 503 makes the retry publish the events again, which the reconciler drops by
 * eventId (at least once, never lost).
 */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no acknowledgement within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** One readiness probe at a time per dependency: a slow one is awaited, not piled up. */
function single(check: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  return () => (running ??= check().finally(() => (running = null)));
}

export async function runIngest(): Promise<void> {
  // Kafka down at start is an outage to wait out, not a reason not to start: webhooks answer 503.
  const rt = await startRuntime('ingest', (c) => c.ingest.port, { lazyProducer: true });
  const { config, logger, producer, http } = rt;
  const connectors: Map<string, BoundConnector> = boundConnectors(config);
  for (const [platform, c] of connectors)
    for (const warning of c.startupWarnings?.() ?? []) logger.warn({ platform }, warning);
  const botAbort = new AbortController();
  rt.onShutdown({ name: 'bot user lookups', run: async () => botAbort.abort() });
  const botUserIds = await resolveBotUserIds(connectors, logger, botAbort.signal);

  const webhooks = new Counter({
    name: 'lockstep_ingest_webhooks_total',
    help: 'Webhook requests by platform and result (accepted, duplicate, bad_signature, malformed, too_large, …)',
    labelNames: ['platform', 'result'],
    registers: [rt.metrics],
  });
  const published = new Counter({
    name: 'lockstep_ingest_events_total',
    help: 'Change events published, by platform and via',
    labelNames: ['platform', 'via'],
    registers: [rt.metrics],
  });
  // The one series an unknown platform ever makes, there from the start.
  webhooks.inc({ platform: UNKNOWN_PLATFORM_LABEL, result: 'unknown_platform' }, 0);
  // The series alerts watch exist from the start, so their first increase is seen.
  for (const platform of connectors.keys())
    for (const result of ['accepted', 'bad_signature']) webhooks.inc({ platform, result }, 0);
  const polls = new Counter({
    name: 'lockstep_ingest_polls_total',
    help: 'Poll rounds by source and result',
    labelNames: ['source', 'result'],
    registers: [rt.metrics],
  });
  const polledEvents = new Counter({
    name: 'lockstep_ingest_polled_events_total',
    help: 'Events found by polls',
    labelNames: ['source'],
    registers: [rt.metrics],
  });

  // Poll lag = time() - this. One poller per platform covers all its configured workspaces, so the
  // label is the platform (the poll source), not a workspace.
  const lastPoll = new Gauge({
    name: 'lockstep_ingest_last_successful_poll_timestamp_seconds',
    help: 'Unix time of the last poll round that completed, by source (platform); the start time until the first',
    labelNames: ['source'],
    registers: [rt.metrics],
  });

  const publish = async (events: ChangeEvent[]): Promise<void> => {
    for (const e of events) {
      await producer.produce(config.kafka.topics.changes, changeKey(e), e);
      published.inc({ platform: e.source.platform, via: e.source.via });
    }
  };

  // One request budget per platform, shared by its poller and by the fetches a webhook's expand
  // makes (both spend the same token's quota). Published rate, corrected by the platform's
  // rate-limit headers (which also count what egress spends of the quota).
  const budgets = new Map([...connectors.keys()].map((p) => [p, new RateBudget(rateLimitFor(config, p))]));

  const deps = {
    connectors,
    botUserIds,
    budgets,
    publish: (events: ChangeEvent[]) =>
      within(publish(events), config.ingest.publishTimeoutMs, 'publishing webhook events'),
    deliveries: createDeliveryStore(rt.pool),
    secrets: createSecretStore(rt.pool),
    metrics: { webhooks },
    logger,
    now: Date.now,
    async deadLetter(platform: string, req: WebhookRequest, error: { category: string; message: string }) {
      await rt.deadLetter({
        stage: 'ingest',
        topic: `webhook:${platform}`,
        key: null,
        value: req.rawBody,
        headers: Object.fromEntries(
          Object.entries(req.headers)
            .filter(([k]) => !/signature|authorization|secret/i.test(k))
            .map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v ?? '')]),
        ),
        error: { category: 'validation', message: `${error.category}: ${error.message}`, retriable: false },
      });
    },
    async deadLetterRecord(platform: string, item: RejectedItem) {
      await rt.deadLetter({
        stage: 'ingest',
        topic: `webhook:${platform}:record`,
        key: item.id === null ? null : Buffer.from(item.id),
        value: Buffer.from(JSON.stringify(item.raw ?? null)),
        error: { category: 'validation', message: item.reason, retriable: false },
      });
    },
  };

  const app = http.app;
  // Signatures cover the exact bytes, so the body stays raw; the size cap answers 413.
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: config.ingest.maxBodyBytes },
    (_req, body, done) => done(null, body),
  );
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: config.ingest.maxBodyBytes },
    (_req, body, done) => done(null, body),
  );
  app.setErrorHandler((err: { statusCode?: number; message: string; stack?: string }, req, reply) => {
    const platform = platformLabel(connectors, (req.params as { platform?: string } | undefined)?.platform);
    if (err.statusCode === 413) {
      webhooks.inc({ platform, result: 'too_large' });
      return reply.code(413).send({ error: `webhook body larger than ${config.ingest.maxBodyBytes} bytes` });
    }
    const status =
      err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status < 500) {
      // fastify's own rejections of the request (bad content-length, …): about the request, not us.
      webhooks.inc({ platform, result: 'bad_request' });
      return reply.code(status).send({ error: err.message });
    }
    webhooks.inc({ platform, result: 'error' });
    logger.error(
      { err: err.message, stack: err.stack, platform, requestId: req.id },
      'webhook request failed',
    );
    return reply.code(500).send({ error: 'internal error', requestId: req.id });
  });
  app.post<{ Params: { platform: string } }>('/webhooks/:platform', async (req, reply) => {
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const r = await handleWebhook(deps, req.params.platform, {
      headers: req.headers,
      rawBody,
      nowMs: Date.now(),
    });
    if (r.headers) void reply.headers(r.headers);
    return reply.code(r.status).send(r.body);
  });

  // Ready = a webhook could be accepted now: the changes topic has leaders, the registry answers
  // (the runtime checks Postgres, which the delivery-id dedupe needs).
  http.addReadinessCheck(
    'kafka',
    single(async () => void (await topicOffsets(rt.kafka, config.kafka.topics.changes))),
  );
  http.addReadinessCheck(
    'registry',
    single(async () => {
      const res = await fetch(`${config.registry.url.replace(/\/$/, '')}/subjects`, {
        signal: AbortSignal.timeout(2000),
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`reading ${config.registry.url}/subjects: HTTP ${res.status}`);
    }),
  );
  const address = await http.listen();
  logger.info({ ...address, platforms: [...connectors.keys()] }, 'ingest listening on /webhooks/<platform>');

  const abort = new AbortController();
  const cursors = createCursorStore(rt.pool);
  const loops: Promise<void>[] = [];
  if (config.ingest.pollIntervalMs > 0) {
    for (const [platform, c] of connectors) {
      // Until the first round completes, the age counts from the start (a poller that never succeeds stalls too).
      lastPoll.set({ source: platform }, Date.now() / 1000);
      loops.push(
        runPollLoop(
          {
            source: `${platform}`,
            // Its requests draw from the platform's budget (above), shared with webhook expands.
            poller: c.createPoller(botUserIds.get(platform) ?? null, budgets.get(platform)),
            cursors,
            publish,
            intervalMs: config.ingest.pollIntervalMs,
            logger,
            deadLetter: (source, item) =>
              rt.deadLetter({
                stage: 'ingest',
                topic: `poll:${source}`,
                key: item.id === null ? null : Buffer.from(item.id),
                value: Buffer.from(JSON.stringify(item.raw ?? null)),
                error: { category: 'validation', message: item.reason, retriable: false },
              }),
            metrics: { polls, polledEvents, lastSuccess: lastPoll },
          },
          abort.signal,
        ),
      );
    }
  }
  rt.onShutdown({
    name: 'pollers',
    run: async () => {
      abort.abort();
      await Promise.all(loops);
    },
  });
}
