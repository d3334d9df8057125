/**
 * Lockstep's own user on each platform, which tells our writes from a person's by the webhook's
 * actor (`actorIsLockstep`). A lookup that fails at start (the platform down, a timeout) is retried
 * with backoff in the background until it succeeds: kept null for the life of the process, every
 * webhook of our own writes would look like a person's (the echo then rests on the base comparison
 * and the create marker alone). Webhooks read the map per request, so a late answer applies at once.
 */
import type { BoundConnector } from '../connectors/types.ts';
import type { Logger } from '../core/logging/index.ts';
import { backoffDelay } from '../core/resilience/index.ts';

export interface BotUserOptions {
  /** Backoff of the retries (defaults: 1 s doubling to 5 min). */
  baseMs?: number;
  maxMs?: number;
}

/**
 * Resolves every connector's bot user once; the ones that fail are retried until `signal` aborts.
 * Resolves after the first round, with the map the retries keep filling.
 */
export async function resolveBotUserIds(
  connectors: ReadonlyMap<string, Pick<BoundConnector, 'resolveBotUserId'>>,
  logger: Logger,
  signal: AbortSignal,
  opts: BotUserOptions = {},
): Promise<Map<string, string | null>> {
  const ids = new Map<string, string | null>();
  const backoff = { baseMs: opts.baseMs ?? 1000, maxMs: opts.maxMs ?? 5 * 60_000 };
  const attempt = async (platform: string, c: Pick<BoundConnector, 'resolveBotUserId'>, n: number) => {
    try {
      ids.set(platform, await c.resolveBotUserId());
      if (n > 1) logger.info({ platform, attempts: n }, 'resolved the bot user');
    } catch (err) {
      if (!ids.has(platform)) ids.set(platform, null);
      if (signal.aborted) return;
      const retryInMs = backoffDelay(n, backoff);
      logger.warn(
        { platform, err: String(err), attempt: n, retryInMs },
        'resolving the bot user failed; retrying (until then actorIsLockstep is false for its webhooks)',
      );
      const t = setTimeout(() => void attempt(platform, c, n + 1), retryInMs);
      t.unref();
      signal.addEventListener('abort', () => clearTimeout(t), { once: true });
    }
  };
  await Promise.all([...connectors].map(([platform, c]) => attempt(platform, c, 1)));
  return ids;
}
