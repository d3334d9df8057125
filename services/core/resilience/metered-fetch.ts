/**
 * A `fetch` for a connector's SDK: every request first draws one token from the platform's budget,
 * is abandoned after `timeoutMs` without an answer (a hanging platform must not stall a consumer or
 * a poller), and feeds back what the platform's response headers say about the budget. Which
 * headers those are is the connector's knowledge (`readBudget`); nothing here names a platform.
 */
import { LockstepError } from '../errors/index.ts';
import type { BudgetObservation } from './rate-budget.ts';

/** What a connector's requests draw from (RateBudget implements it). */
export interface RequestBudget {
  acquire(): Promise<void>;
  observe(o: BudgetObservation): void;
}

export interface MeteredFetchOptions {
  /** For error messages: "calling <what>". */
  what: string;
  timeoutMs: number;
  budget?: RequestBudget;
  /** The platform's rate-limit headers → an observation (connector-specific). */
  readBudget?(headers: Headers, status: number, nowMs: number): BudgetObservation;
  fetch?: typeof fetch;
  now?: () => number;
}

/** The code a timed-out request carries, the one Node's own sockets use, so classifiers see `network`. */
export const TIMEOUT_CODE = 'ETIMEDOUT';

/** A retriable network error for a request that got no answer in time. */
export function requestTimeout(what: string, timeoutMs: number, cause?: unknown): LockstepError {
  const err = new LockstepError(`calling ${what}: no answer within ${timeoutMs} ms`, {
    category: 'network',
    retriable: true,
    cause,
  });
  return Object.assign(err, { code: TIMEOUT_CODE });
}

export function meteredFetch(opts: MeteredFetchOptions): typeof fetch {
  const base = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  return async (input, init) => {
    // The wait for budget is not part of the timeout: only the platform's silence is.
    await opts.budget?.acquire();
    const timeout = AbortSignal.timeout(opts.timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await base(input, { ...init, signal });
    } catch (err) {
      if (timeout.aborted) throw requestTimeout(opts.what, opts.timeoutMs, err);
      throw err;
    }
    if (opts.budget && opts.readBudget) opts.budget.observe(opts.readBudget(res.headers, res.status, now()));
    return res;
  };
}
