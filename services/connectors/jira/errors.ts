/**
 * jira.js errors → categories. jira.js throws `HttpException` with the HTTP status; the response
 * headers are not on it but on the AxiosError in `cause` (PLATFORMS.md §2), which is where
 * Retry-After (seconds) is read from.
 */
import { HttpException } from 'jira.js';
import { LockstepError } from '../../core/errors/index.ts';
import { classifyHttpStatus } from '../kit/http-status.ts';
import type { ErrorClass } from '../types.ts';

// HTTP status → class: the kit's table as it is (Jira retries its own webhooks on the same
// transient set: 408, 409, 425, 429, 5xx).
const UNKNOWN: ErrorClass = { category: 'unknown', retriable: false };

/** Node/axios network error codes that mean "try again later". */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ECONNABORTED',
  'ERR_NETWORK',
]);

function retryAfterMs(err: HttpException): number | undefined {
  const cause: unknown = err.cause;
  if (typeof cause !== 'object' || cause === null || !('response' in cause)) return undefined;
  const res: unknown = cause.response;
  if (typeof res !== 'object' || res === null || !('headers' in res)) return undefined;
  const headers: unknown = res.headers;
  if (typeof headers !== 'object' || headers === null) return undefined;
  const raw: unknown = (headers as Record<string, unknown>)['retry-after'];
  const seconds = Number(raw);
  return raw !== undefined && Number.isFinite(seconds) && seconds >= 0
    ? Math.ceil(seconds * 1000)
    : undefined;
}

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    if (typeof e === 'object' && 'code' in e && typeof e.code === 'string' && NETWORK_CODES.has(e.code))
      return e.code;
    e = typeof e === 'object' && 'cause' in e ? e.cause : undefined;
  }
  return undefined;
}

export function classifyJiraError(err: unknown): ErrorClass {
  if (err instanceof LockstepError) {
    return {
      category: err.category,
      retriable: err.retriable,
      ...(err.retryAfterMs !== undefined && { retryAfterMs: err.retryAfterMs }),
    };
  }
  if (networkCode(err)) return { category: 'network', retriable: true };
  if (err instanceof HttpException) {
    const cls = classifyHttpStatus(err.status);
    const after = retryAfterMs(err);
    return after !== undefined && cls.retriable ? { ...cls, retryAfterMs: after } : cls;
  }
  return UNKNOWN;
}
