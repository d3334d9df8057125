/**
 * Exponential backoff with full jitter (AWS architecture blog's "full jitter"): the delay for
 * attempt n is uniform in [0, min(max, base·2ⁿ)], which spreads retries of many workers apart.
 * A platform's Retry-After is a floor, never shortened by jitter.
 */
import { isRetriable, LockstepError } from '../errors/index.ts';

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Returns a number in [0, 1); injected so tests are deterministic. */
  random?: () => number;
}

export function backoffDelay(attempt: number, opts: BackoffOptions, retryAfterMs?: number): number {
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, attempt));
  const jittered = Math.floor((opts.random ?? Math.random)() * ceiling);
  return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs, jittered);
}

export interface RetryOptions extends BackoffOptions {
  /** Total tries including the first; bounded by design (STYLE.md rule 2). */
  maxAttempts: number;
  /** Classifies a throw; default: only LockstepErrors marked retriable. */
  classify?: (err: unknown) => { retriable: boolean; retryAfterMs?: number };
  sleep?: (ms: number) => Promise<void>;
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

const defaultClassify = (err: unknown): { retriable: boolean; retryAfterMs?: number } => ({
  retriable: isRetriable(err),
  retryAfterMs: err instanceof LockstepError ? err.retryAfterMs : undefined,
});

/** Runs `fn` until it succeeds, a non-retriable error is thrown, or attempts run out (last error thrown). */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const classify = opts.classify ?? defaultClassify;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const c = classify(error);
      if (!c.retriable || attempt + 1 >= opts.maxAttempts) throw error;
      const delayMs = backoffDelay(attempt, opts, c.retryAfterMs);
      opts.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}
