/**
 * POST /webhooks/<platform>: handshake → verify → parse → normalize → produce → 2xx.
 * A 2xx means the events are in Kafka (acks=all): STYLE.md rule 8, acknowledge only what is durable.
 * Platforms retry on anything else, so a produce failure answers 503 and loses nothing.
 */
import type { Counter } from 'prom-client';
import type { BoundConnector, WebhookRequest } from '../connectors/types.ts';
import { LockstepError } from '../core/errors/index.ts';
import type { Logger } from '../core/logging/index.ts';
import type { ChangeEvent } from '../../schemas/generated/types.ts';

export interface WebhookReply {
  status: number;
  headers?: Record<string, string>;
  body: string | Record<string, unknown>;
}

export interface WebhookDeps {
  connectors: ReadonlyMap<string, BoundConnector>;
  botUserIds: ReadonlyMap<string, string | null>;
  /** Publishes the events (acks=all) and resolves once they are durable. */
  publish(events: ChangeEvent[]): Promise<void>;
  /** Sends a payload we could not turn into events to the dead-letter topic, for a later retry. */
  deadLetter(platform: string, req: WebhookRequest, error: LockstepError): Promise<void>;
  /** Delivery-id dedupe: `seen` before publishing, `remember` after it is durable. */
  deliveries: {
    seen(platform: string, id: string): Promise<boolean>;
    remember(platform: string, id: string): Promise<void>;
  };
  metrics: { webhooks: Counter<'platform' | 'result'> };
  logger: Logger;
  now(): number;
}

export async function handleWebhook(
  deps: WebhookDeps,
  platform: string,
  req: WebhookRequest,
): Promise<WebhookReply> {
  const count = (result: string) => deps.metrics.webhooks.inc({ platform, result });
  const connector = deps.connectors.get(platform);
  if (!connector) {
    count('unknown_platform');
    return { status: 404, body: { error: `no connector configured for platform ${platform}` } };
  }

  const handshake = connector.handshake(req);
  if (handshake) {
    count('handshake');
    return { status: handshake.status, headers: handshake.headers, body: handshake.body };
  }

  const verdict = connector.verify(req);
  if (!verdict.ok) {
    count('bad_signature');
    deps.logger.warn({ platform, reason: verdict.reason }, 'rejecting webhook: signature check failed');
    return { status: 401, body: { error: `verifying ${platform} webhook: ${verdict.reason}` } };
  }

  if (verdict.deliveryId && (await deps.deliveries.seen(platform, verdict.deliveryId))) {
    count('duplicate');
    return { status: 200, body: { ok: true, duplicate: true } };
  }

  let events: ChangeEvent[];
  try {
    const payload: unknown = JSON.parse(req.rawBody.toString('utf8'));
    events = connector.normalize(payload, {
      via: 'webhook',
      deliveryId: verdict.deliveryId,
      nowMs: deps.now(),
      botUserId: deps.botUserIds.get(platform) ?? null,
    });
  } catch (err) {
    // Signed by the platform but not something we can read: keep it where it can be retried from.
    const error =
      err instanceof LockstepError
        ? err
        : new LockstepError(`normalizing ${platform} webhook`, { category: 'validation', cause: err });
    count('malformed');
    deps.logger.warn(
      { platform, err: error.message },
      'rejecting webhook: malformed payload (dead-lettered)',
    );
    await deps.deadLetter(platform, req, error);
    return { status: 400, body: { error: error.message } };
  }

  try {
    await deps.publish(events);
  } catch (err) {
    count('publish_failed');
    deps.logger.error(
      { platform, err: String(err) },
      'publishing webhook events failed; the platform will retry',
    );
    return { status: 503, body: { error: `publishing ${platform} events: Kafka unavailable, retry later` } };
  }
  if (verdict.deliveryId) await deps.deliveries.remember(platform, verdict.deliveryId);
  count(events.length ? 'accepted' : 'ignored');
  return { status: 200, body: { ok: true, events: events.length } };
}

/** The Kafka key of a change: `platform:workspace:entityType:entityId` (DESIGN.md). */
export function changeKey(e: ChangeEvent): string {
  const s = e.source;
  return `${s.platform}:${s.workspace}:${s.entityType}:${s.entityId}`;
}
