/**
 * POST /webhooks/<platform>: handshake → verify → parse → expand → normalize → produce → 2xx.
 * A 2xx means the events are in Kafka (acks=all): STYLE.md rule 8, acknowledge only what is durable.
 * Platforms retry on anything else, so a dependency that is down (Kafka, Postgres) answers 503 and
 * loses nothing. Bodies say what the caller can act on and no more: an internal error's message
 * goes to the log, never to whoever sent the webhook.
 */
import type { Counter } from 'prom-client';
import type { BoundConnector, RejectedItem, WebhookRequest } from '../connectors/types.ts';
import type { RequestBudget } from '../core/resilience/index.ts';
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
  /**
   * Sends one record `expand` could not read to the dead-letter topic (the rest of the delivery
   * goes on). Absent: such records are dead-lettered with the whole delivery.
   */
  deadLetterRecord?(platform: string, item: RejectedItem): Promise<void>;
  /** Each platform's request budget, shared with its poller: expand's fetches draw from it. */
  budgets?: ReadonlyMap<string, RequestBudget>;
  /** Delivery-id dedupe: `seen` before publishing, `remember` after it is durable. */
  deliveries: {
    seen(platform: string, id: string): Promise<boolean>;
    remember(platform: string, id: string): Promise<void>;
  };
  /**
   * Signing secrets learned in webhook handshakes, durable (Postgres): `learn` resolves once the
   * secret is stored, true, or false when no registration window of the platform is open (the
   * handshake is then a stranger's and nothing is stored); `known` gives a platform's secrets,
   * newest first.
   */
  secrets: {
    learn(platform: string, secret: string): Promise<boolean>;
    known(platform: string): Promise<string[]>;
  };
  metrics: { webhooks: Counter<'platform' | 'result'> };
  logger: Logger;
  now(): number;
}

/** The `platform` label of a request: a configured platform, else this fixed value (bounded series). */
export const UNKNOWN_PLATFORM_LABEL = 'unknown';

export function platformLabel(
  connectors: ReadonlyMap<string, unknown>,
  platform: string | undefined,
): string {
  return platform !== undefined && connectors.has(platform) ? platform : UNKNOWN_PLATFORM_LABEL;
}

const UNAVAILABLE = (platform: string): WebhookReply => ({
  status: 503,
  headers: { 'retry-after': '5' },
  body: { error: `${platform} webhook not accepted: a dependency is unavailable, retry later` },
});

export async function handleWebhook(
  deps: WebhookDeps,
  platform: string,
  req: WebhookRequest,
): Promise<WebhookReply> {
  const connector = deps.connectors.get(platform);
  if (!connector) {
    // The URL's platform is never a label value: anyone can send any path.
    deps.metrics.webhooks.inc({ platform: UNKNOWN_PLATFORM_LABEL, result: 'unknown_platform' });
    return { status: 404, body: { error: 'no connector is configured for this platform' } };
  }
  const count = (result: string) => deps.metrics.webhooks.inc({ platform, result });

  const handshake = connector.handshake(req);
  if (handshake) {
    if (handshake.learnedSecret !== undefined) {
      // Answered only once the secret is stored: a handshake answered and then forgotten would
      // leave a webhook whose every delivery is refused. Not stored → 503; the operator's
      // registration fails and is run again.
      let learned: boolean;
      try {
        learned = await deps.secrets.learn(platform, handshake.learnedSecret);
      } catch (err) {
        count('unavailable');
        deps.logger.error(
          { platform, err: String(err) },
          'storing the webhook secret of a handshake failed (Postgres); answering 503',
        );
        return UNAVAILABLE(platform);
      }
      if (!learned) {
        count('handshake_refused');
        deps.logger.warn(
          { platform },
          'refusing a webhook handshake: no registration is in progress (run `lockstep webhooks register`)',
        );
        return {
          status: 403,
          body: { error: `${platform} webhook handshake refused: no registration is in progress` },
        };
      }
    }
    count('handshake');
    return { status: handshake.status, headers: handshake.headers, body: handshake.body };
  }

  if (connector.learnsSecrets) {
    try {
      req = { ...req, learnedSecrets: await deps.secrets.known(platform) };
    } catch (err) {
      count('unavailable');
      deps.logger.error(
        { platform, err: String(err) },
        'loading the learned webhook secrets failed (Postgres); answering 503, the platform will retry',
      );
      return UNAVAILABLE(platform);
    }
  }

  const verdict = connector.verify(req);
  if (!verdict.ok) {
    count('bad_signature');
    deps.logger.warn({ platform, reason: verdict.reason }, 'rejecting webhook: signature check failed');
    return { status: 401, body: { error: `verifying ${platform} webhook: ${verdict.reason}` } };
  }

  if (verdict.deliveryId) {
    let seen: boolean;
    try {
      seen = await deps.deliveries.seen(platform, verdict.deliveryId);
    } catch (err) {
      count('unavailable');
      deps.logger.error(
        { platform, err: String(err) },
        'checking the webhook delivery id failed (Postgres); answering 503, the platform will retry',
      );
      return UNAVAILABLE(platform);
    }
    if (seen) {
      count('duplicate');
      return { status: 200, body: { ok: true, duplicate: true } };
    }
  }

  let payload: unknown;
  try {
    payload = JSON.parse(req.rawBody.toString('utf8'));
  } catch (err) {
    return malformed(deps, platform, req, err);
  }

  const botUserId = deps.botUserIds.get(platform) ?? null;
  if (connector.expands) {
    // The platform's events name what changed; fetch it now, while the platform waits for our
    // answer. A failed fetch (platform down, rate limit) is not bad input: 503, it retries.
    let rejected: RejectedItem[];
    try {
      ({ payload, rejected } = await connector.expand(payload, botUserId, deps.budgets?.get(platform)));
    } catch (err) {
      if (err instanceof LockstepError && err.category === 'validation')
        return malformed(deps, platform, req, err);
      count('expand_failed');
      deps.logger.error(
        { platform, err: connector.describeError(err) },
        'fetching what a webhook names failed; answering 503, the platform will retry',
      );
      return UNAVAILABLE(platform);
    }
    for (const item of rejected) {
      const reply = await rejectRecord(deps, platform, req, item);
      if (reply) return reply;
    }
  }

  let events: ChangeEvent[];
  try {
    events = connector.normalize(payload, {
      via: 'webhook',
      deliveryId: verdict.deliveryId,
      nowMs: deps.now(),
      botUserId,
    });
  } catch (err) {
    return malformed(deps, platform, req, err);
  }

  try {
    await deps.publish(events);
  } catch (err) {
    count('publish_failed');
    deps.logger.error(
      { platform, err: String(err) },
      'publishing webhook events failed; the platform will retry',
    );
    return UNAVAILABLE(platform);
  }
  if (verdict.deliveryId) {
    try {
      await deps.deliveries.remember(platform, verdict.deliveryId);
    } catch (err) {
      // The events are durable in Kafka, so this is a success. A redelivery of the same id then
      // publishes the same events again, which the reconciler drops by eventId.
      deps.logger.warn(
        { platform, err: String(err) },
        'remembering the webhook delivery id failed (Postgres); a redelivery will be deduplicated downstream',
      );
    }
  }
  count(events.length ? 'accepted' : 'ignored');
  return { status: 200, body: { ok: true, events: events.length } };
}

/** Dead-letters a signed payload we cannot read (400), or answers 503 when even that fails. */
async function malformed(
  deps: WebhookDeps,
  platform: string,
  req: WebhookRequest,
  err: unknown,
): Promise<WebhookReply> {
  // Signed by the platform but not something we can read: keep it where it can be retried from.
  const error =
    err instanceof LockstepError
      ? err
      : new LockstepError(`normalizing ${platform} webhook`, { category: 'validation', cause: err });
  try {
    await deps.deadLetter(platform, req, error);
  } catch (dlErr) {
    // Not kept anywhere yet: the platform must send it again.
    deps.metrics.webhooks.inc({ platform, result: 'unavailable' });
    deps.logger.error(
      { platform, err: error.message, deadLetterErr: String(dlErr) },
      'dead-lettering a malformed webhook failed; answering 503, the platform will retry',
    );
    return UNAVAILABLE(platform);
  }
  deps.metrics.webhooks.inc({ platform, result: 'malformed' });
  deps.logger.warn({ platform, err: error.message }, 'rejecting webhook: malformed payload (dead-lettered)');
  return { status: 400, body: { error: `malformed ${platform} webhook payload; kept as a dead letter` } };
}

/**
 * Dead-letters one record of a delivery that expand could not read; the rest goes on. Returns a
 * reply only when the dead letter could not be written (503: the platform sends it all again).
 */
async function rejectRecord(
  deps: WebhookDeps,
  platform: string,
  req: WebhookRequest,
  item: RejectedItem,
): Promise<WebhookReply | null> {
  const error = new LockstepError(
    `reading ${platform} record ${item.id ?? '(no id)'} named by a webhook: ${item.reason}`,
    { category: 'validation' },
  );
  try {
    if (deps.deadLetterRecord) await deps.deadLetterRecord(platform, item);
    else await deps.deadLetter(platform, req, error);
  } catch (dlErr) {
    deps.metrics.webhooks.inc({ platform, result: 'unavailable' });
    deps.logger.error(
      { platform, err: error.message, deadLetterErr: String(dlErr) },
      'dead-lettering a record a webhook names failed; answering 503, the platform will retry',
    );
    return UNAVAILABLE(platform);
  }
  deps.metrics.webhooks.inc({ platform, result: 'record_rejected' });
  deps.logger.warn({ platform, err: error.message }, 'a record a webhook names is malformed (dead-lettered)');
  return null;
}

/** The Kafka key of a change: `platform:workspace:entityType:entityId` (DESIGN.md). */
export function changeKey(e: ChangeEvent): string {
  const s = e.source;
  return `${s.platform}:${s.workspace}:${s.entityType}:${s.entityId}`;
}
