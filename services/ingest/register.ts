/**
 * Registering a platform's webhook so that ingest will verify what it sends. For a platform that
 * hands its signing secret over in a handshake (the connector's `learnsSecrets`), the platform
 * calls ingest back while the registration call is open; ingest learns the secret only while the
 * platform's registration window is open (webhook_registrations), so this opens it for the call
 * and closes it after, whatever the outcome.
 */
import type { BoundConnector, RegisteredWebhook } from '../connectors/types.ts';
import { createPool } from '../core/db/index.ts';
import { openRegistrationWindow } from './store.ts';

/** Long enough for the platform's registration call and its handshake; closed as soon as the call ends. */
export const REGISTRATION_WINDOW_MS = 120_000;

export async function registerWebhook(
  connector: BoundConnector,
  opts: { url: string; secret: string | null; postgresUrl: string },
): Promise<RegisteredWebhook[]> {
  if (!connector.learnsSecrets) return connector.registerWebhook({ url: opts.url, secret: opts.secret });
  const pool = createPool(opts.postgresUrl, { max: 1 });
  try {
    const window = await openRegistrationWindow(pool, connector.platform, REGISTRATION_WINDOW_MS);
    try {
      return await connector.registerWebhook({ url: opts.url, secret: opts.secret });
    } finally {
      await window.close();
    }
  } finally {
    await pool.end();
  }
}
