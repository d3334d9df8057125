/**
 * `lockstep ingest`: the webhook receiver plus one poller per configured connector.
 */
import { Counter } from 'prom-client';
import type { BoundConnector, WebhookRequest } from '../connectors/types.ts';
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import { boundConnectors } from '../app/config.ts';
import { startRuntime } from '../app/runtime.ts';
import { resolveBotUserIds } from './bot-users.ts';
import { runPollLoop } from './poller.ts';
import { createCursorStore, createDeliveryStore } from './store.ts';
import { changeKey, handleWebhook } from './webhooks.ts';

export async function runIngest(): Promise<void> {
  const rt = await startRuntime('ingest', (c) => c.ingest.port);
  const { config, logger, producer, http } = rt;
  const connectors: Map<string, BoundConnector> = boundConnectors(config);
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

  const publish = async (events: ChangeEvent[]): Promise<void> => {
    for (const e of events) {
      await producer.produce(config.kafka.topics.changes, changeKey(e), e);
      published.inc({ platform: e.source.platform, via: e.source.via });
    }
  };

  const deps = {
    connectors,
    botUserIds,
    publish,
    deliveries: createDeliveryStore(rt.pool),
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
  app.setErrorHandler((err: { statusCode?: number; message: string }, req, reply) => {
    const platform = (req.params as { platform?: string } | undefined)?.platform ?? 'unknown';
    if (err.statusCode === 413) {
      webhooks.inc({ platform, result: 'too_large' });
      return reply.code(413).send({ error: `webhook body larger than ${config.ingest.maxBodyBytes} bytes` });
    }
    logger.error({ err: err.message, platform }, 'webhook request failed');
    return reply.code(err.statusCode ?? 500).send({ error: err.message });
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

  http.addReadinessCheck('kafka', () => undefined);
  const address = await http.listen();
  logger.info({ ...address, platforms: [...connectors.keys()] }, 'ingest listening on /webhooks/<platform>');

  const abort = new AbortController();
  const cursors = createCursorStore(rt.pool);
  const loops: Promise<void>[] = [];
  if (config.ingest.pollIntervalMs > 0) {
    for (const [platform, c] of connectors) {
      loops.push(
        runPollLoop(
          {
            source: `${platform}`,
            poller: c.createPoller(botUserIds.get(platform) ?? null),
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
            metrics: { polls, polledEvents },
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
