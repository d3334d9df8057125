/**
 * jira.js errors → categories. jira.js throws `HttpException` with the HTTP status; the response
 * headers are not on it but on the AxiosError in `cause` (PLATFORMS.md §2), which is where
 * Retry-After (seconds) is read from.
 */
import { HttpException } from 'jira.js';
import { LockstepError } from '../../core/errors/index.ts';
import type { ErrorClass } from '../types.ts';

/** HTTP status → class. Jira retries its own webhooks on the same transient set (408, 409, 425, 429, 5xx). */
const BY_STATUS: Readonly<Record<number, ErrorClass>> = {
  400: { category: 'validation', retriable: false },
  401: { category: 'auth', retriable: false },
  403: { category: 'auth', retriable: false },
  404: { category: 'not_found', retriable: false },
  408: { category: 'network', retriable: true },
  409: { category: 'conflict', retriable: true },
  422: { category: 'validation', retriable: false },
  425: { category: 'network', retriable: true },
  429: { category: 'rate_limit', retriable: true },
};
const SERVER_ERROR: ErrorClass = { category: 'network', retriable: true };
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
    const cls = BY_STATUS[err.status] ?? (err.status >= 500 ? SERVER_ERROR : UNKNOWN);
    const after = retryAfterMs(err);
    return after !== undefined && cls.retriable ? { ...cls, retryAfterMs: after } : cls;
  }
  return UNKNOWN;
}
