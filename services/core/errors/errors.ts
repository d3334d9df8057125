/**
 * One error root for everything Lockstep throws on purpose (STYLE.md rule 2). The category symbols
 * are the Avro `ErrorCategory` enum's, so an error maps onto a WriteOutcome/DeadLetter unchanged.
 */
import type { ErrorCategory } from '../../../schemas/generated/types.ts';

export type { ErrorCategory };
export const ERROR_CATEGORIES: readonly ErrorCategory[] = [
  'network',
  'auth',
  'rate_limit',
  'validation',
  'not_found',
  'conflict',
  'unknown',
];

/** Whether a category is worth retrying by default; an error may override with `retriable`. */
const RETRIABLE_BY_DEFAULT: Record<ErrorCategory, boolean> = {
  network: true,
  rate_limit: true,
  auth: false,
  validation: false,
  not_found: false,
  conflict: false,
  unknown: false,
};

export interface LockstepErrorOptions {
  category?: ErrorCategory;
  retriable?: boolean;
  retryAfterMs?: number;
  cause?: unknown;
}

export class LockstepError extends Error {
  readonly category: ErrorCategory;
  readonly retriable: boolean;
  readonly retryAfterMs: number | undefined;

  /**
   * `action` is the "verb-ing object" part ("applying command c1 to jira"); the cause's message is
   * appended, so messages read "verb-ing object: cause".
   */
  constructor(action: string, opts: LockstepErrorOptions = {}) {
    const causeMsg =
      opts.cause === undefined
        ? ''
        : `: ${opts.cause instanceof Error ? opts.cause.message : String(opts.cause)}`;
    super(`${action}${causeMsg}`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LockstepError';
    this.category = opts.category ?? 'unknown';
    this.retriable = opts.retriable ?? RETRIABLE_BY_DEFAULT[this.category];
    this.retryAfterMs = opts.retryAfterMs;
  }
}

// Bugs in our own code: retrying cannot fix them and hides them (kafkajs retry/ does the same).
const PROGRAMMER_ERRORS = [TypeError, ReferenceError, SyntaxError, RangeError, EvalError];

export function isProgrammerError(err: unknown): boolean {
  return PROGRAMMER_ERRORS.some((C) => err instanceof C);
}

/** True only for a LockstepError marked retriable; never for programmer errors or unknown throws. */
export function isRetriable(err: unknown): boolean {
  if (isProgrammerError(err)) return false;
  return err instanceof LockstepError && err.retriable;
}

/** The category of anything thrown: a LockstepError's own, else `unknown`. */
export function categoryOf(err: unknown): ErrorCategory {
  return err instanceof LockstepError ? err.category : 'unknown';
}

/** Wrap an unexpected throw with context, keeping LockstepError's category/retriable. */
export function wrapError(action: string, err: unknown): LockstepError {
  if (err instanceof LockstepError) {
    return new LockstepError(action, {
      category: err.category,
      retriable: err.retriable,
      retryAfterMs: err.retryAfterMs,
      cause: err,
    });
  }
  return new LockstepError(action, { category: 'unknown', retriable: false, cause: err });
}
