/**
 * @linear/sdk error classes → categories. The SDK picks the class from `errors[0].extensions.type`
 * before looking at the HTTP status (PLATFORMS.md §2), so the table is keyed by class; the status
 * is only a fallback for errors without a GraphQL type (a proxy's 502, a dropped connection).
 */
import {
  AuthenticationLinearError,
  FeatureNotAccessibleLinearError,
  ForbiddenLinearError,
  InternalLinearError,
  InvalidInputLinearError,
  LinearError,
  LockTimeoutLinearError,
  NetworkLinearError,
  RatelimitedLinearError,
  UsageLimitExceededLinearError,
  UserLinearError,
} from '@linear/sdk';
import { LockstepError } from '../../core/errors/index.ts';
import { classifyHttpStatus, statusClasses } from '../kit/http-status.ts';
import type { ErrorClass } from '../types.ts';

type ErrorCtor = abstract new (...args: never[]) => Error;

const TABLE: ReadonlyArray<readonly [ErrorCtor, ErrorClass]> = [
  [RatelimitedLinearError, { category: 'rate_limit', retriable: true }],
  [AuthenticationLinearError, { category: 'auth', retriable: false, credentialsRefused: true }],
  [ForbiddenLinearError, { category: 'auth', retriable: false }],
  [FeatureNotAccessibleLinearError, { category: 'auth', retriable: false }],
  [InvalidInputLinearError, { category: 'validation', retriable: false }],
  [UserLinearError, { category: 'validation', retriable: false }],
  [UsageLimitExceededLinearError, { category: 'rate_limit', retriable: false }],
  [NetworkLinearError, { category: 'network', retriable: true }],
  [InternalLinearError, { category: 'network', retriable: true }],
  [LockTimeoutLinearError, { category: 'conflict', retriable: true }],
];

/**
 * The SDK keeps `userPresentableMessage` ("Could not find referenced Issue.") as the error's
 * message when there is one; the wire message ("Entity not found: Issue") stays in `raw`.
 */
const NOT_FOUND = /^(Entity not found\b|Could not find referenced\b)/;
function notFound(err: LinearError): boolean {
  const raw = err.raw as { response?: { errors?: { message?: unknown }[] } } | undefined;
  const wire = (raw?.response?.errors ?? []).map((e) => (typeof e.message === 'string' ? e.message : ''));
  return [...(err.errors ?? []).map((e) => e.message ?? ''), ...wire].some((m) => NOT_FOUND.test(m));
}

/**
 * By HTTP status, for LinearErrors whose class says nothing more (Unknown/Other/Graphql): the
 * kit's table for the statuses that mean the same whatever a GraphQL body would say; a 400, 409 or
 * 422 without a typed error stays `unknown` (not retried), as it always has here.
 */
const BY_STATUS = statusClasses([401, 403, 404, 408, 429]);

export function classifyLinearError(err: unknown): ErrorClass {
  if (err instanceof LockstepError) {
    return {
      category: err.category,
      retriable: err.retriable,
      ...(err.retryAfterMs !== undefined && { retryAfterMs: err.retryAfterMs }),
    };
  }
  // Linear answers a missing (or deleted) entity with type "invalid input" and the message
  // "Entity not found: <Type>": the target is gone, which is not a malformed command.
  if (err instanceof LinearError && notFound(err)) return { category: 'not_found', retriable: false };
  for (const [ctor, cls] of TABLE) {
    if (err instanceof ctor) {
      if (err instanceof RatelimitedLinearError && err.retryAfter !== undefined) {
        return { ...cls, retryAfterMs: Math.ceil(err.retryAfter * 1000) };
      }
      return cls;
    }
  }
  if (err instanceof LinearError) return classifyHttpStatus(err.status, BY_STATUS);
  // fetch() failures (ECONNREFUSED, DNS) reach us as TypeError('fetch failed') with a cause.
  if (err instanceof TypeError && err.message === 'fetch failed')
    return { category: 'network', retriable: true };
  return { category: 'unknown', retriable: false };
}
