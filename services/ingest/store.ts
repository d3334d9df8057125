import type { JsonValue } from '../connectors/types.ts';
import { pgError, type Pool } from '../core/db/index.ts';
import { isRetriable } from '../core/errors/index.ts';
import type { CursorStore } from './poller.ts';
import type { WebhookDeps } from './webhooks.ts';

/** Classified (core/db): a dropped connection is a retriable `network` error, not bad input. */
function guarded<T>(action: string, p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    throw pgError(action, err);
  });
}

export function createCursorStore(pool: Pool): CursorStore {
  return {
    async load(source) {
      const r = await guarded(
        `loading the poll cursor of ${source}`,
        pool.query<{ cursor: JsonValue }>('select cursor from poll_cursors where source = $1', [source]),
      );
      return r.rows[0]?.cursor ?? null;
    },
    async save(source, cursor) {
      await guarded(
        `saving the poll cursor of ${source}`,
        pool.query(
          `insert into poll_cursors (source, cursor, updated_at) values ($1, $2::jsonb, now())
           on conflict (source) do update set cursor = excluded.cursor, updated_at = now()`,
          [source, JSON.stringify(cursor)],
        ),
      );
    },
  };
}

/**
 * Waits between the attempts of a delivery-id statement. A connection that a failover or a pooler
 * restart terminated fails its statement at once, and the pool's next connection works: retried
 * here, such a drop costs the webhook nothing. Before, it was a 503, and the platform's retry came
 * (Linear) a minute later. The waits add up to 0.35 s, well inside the senders' timeouts (5 s and
 * 10 s). A Postgres that stays down still fails every attempt quickly and gets its 503.
 */
export const DELIVERY_RETRY_DELAYS_MS = [50, 300];

async function retried<T>(action: string, run: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await guarded(action, run());
    } catch (err) {
      const delay = DELIVERY_RETRY_DELAYS_MS[attempt];
      if (delay === undefined || !isRetriable(err)) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export function createDeliveryStore(pool: Pool): WebhookDeps['deliveries'] {
  return {
    async seen(platform, id) {
      const r = await retried(`checking ${platform} delivery ${id}`, () =>
        pool.query('select 1 from ingest_seen where platform = $1 and delivery_id = $2', [platform, id]),
      );
      return (r.rowCount ?? 0) > 0;
    },
    async remember(platform, id) {
      await retried(`remembering ${platform} delivery ${id}`, () =>
        pool.query('insert into ingest_seen (platform, delivery_id) values ($1, $2) on conflict do nothing', [
          platform,
          id,
        ]),
      );
    },
  };
}

/**
 * Webhook signing secrets learned in handshakes (`webhook_secrets`). Read on every delivery of a
 * platform that has a handshake (a primary-key scan of a few rows), so a secret one ingest replica
 * learned is known to all of them at once, and after a restart.
 */
export function createSecretStore(pool: Pool): WebhookDeps['secrets'] {
  return {
    async learn(platform, secret) {
      // Stored only while a registration window is open (webhook_registrations): a handshake at
      // any other time is a stranger's, and its secret must not sign deliveries.
      const r = await retried(`storing a learned ${platform} webhook secret`, () =>
        pool.query(
          `insert into webhook_secrets (platform, secret)
             select $1, $2 where exists (
               select 1 from webhook_registrations where platform = $1 and open_until > now())
           on conflict (platform, secret) do update set learned_at = now()`,
          [platform, secret],
        ),
      );
      return (r.rowCount ?? 0) > 0;
    },
    async known(platform) {
      const r = await retried(`loading the learned ${platform} webhook secrets`, () =>
        pool.query<{ secret: string }>(
          'select secret from webhook_secrets where platform = $1 order by learned_at desc',
          [platform],
        ),
      );
      return r.rows.map((row) => row.secret);
    },
  };
}

/**
 * Opens `platform`'s registration window for `ttlMs` (or until `close`): while it is open, a
 * handshake's secret is learned. `lockstep webhooks register` holds it around the platform's
 * registration call, during which the platform sends its handshake.
 */
export async function openRegistrationWindow(
  pool: Pool,
  platform: string,
  ttlMs: number,
): Promise<{ close(): Promise<void> }> {
  await guarded(
    `opening the ${platform} webhook registration window`,
    pool.query(
      `insert into webhook_registrations (platform, open_until)
         values ($1, now() + make_interval(secs => $2::double precision / 1000))
       on conflict (platform) do update set open_until = excluded.open_until`,
      [platform, ttlMs],
    ),
  );
  return {
    async close() {
      await guarded(
        `closing the ${platform} webhook registration window`,
        pool.query('delete from webhook_registrations where platform = $1', [platform]),
      );
    },
  };
}
