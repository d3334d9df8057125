/**
 * asana SDK errors → categories. The SDK (3.2.0) rejects with superagent's errors: an HTTP answer
 * carries `status`, `response.headers` and `response.body` (`{errors:[{message, help}]}`), a
 * connection that failed carries node's `code` (ECONNREFUSED …) and no status. A request Asana left
 * unanswered reaches us as client.ts's LockstepError (requestTimeout), which keeps its own class.
 * Asana's 429 says when to come back in `Retry-After` (seconds); it documents no other budget header.
 */
import { LockstepError } from '../../core/errors/index.ts';
import { classifyHttpStatus } from '../kit/http-status.ts';
import { describeSdkError, type ErrorClass } from '../types.ts';
import { asanaBudgetHeaders, type SuperagentError } from './client.ts';

const UNKNOWN: ErrorClass = { category: 'unknown', retriable: false };
const NETWORK: ErrorClass = { category: 'network', retriable: true };

/** Node/superagent error codes of a request that never got an answer: try again later. */
const NETWORK_CODES: Readonly<Record<string, ErrorClass>> = {
  ECONNREFUSED: NETWORK,
  ECONNRESET: NETWORK,
  ETIMEDOUT: NETWORK,
  ENOTFOUND: NETWORK,
  EAI_AGAIN: NETWORK,
  EPIPE: NETWORK,
  ECONNABORTED: NETWORK,
  EHOSTUNREACH: NETWORK,
  ENETUNREACH: NETWORK,
  UND_ERR_SOCKET: NETWORK,
};

function asSuperagent(err: unknown): SuperagentError | null {
  return err instanceof Error ? (err as SuperagentError) : null;
}

/** The HTTP status of an answer Asana gave, or undefined for an error without one. */
function statusOf(e: SuperagentError): number | undefined {
  const status = e.status ?? e.response?.status;
  return typeof status === 'number' ? status : undefined;
}

/** A network code anywhere on the error or its causes (superagent sets `code` on the error itself). */
function networkClass(err: unknown): ErrorClass | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = 'code' in e && typeof e.code === 'string' ? e.code : undefined;
    if (code && NETWORK_CODES[code]) return NETWORK_CODES[code];
    e = 'cause' in e ? e.cause : undefined;
  }
  return undefined;
}

/** The HTTP status of Asana's answer the SDK rejected with, or undefined (no answer). */
export function asanaStatus(err: unknown): number | undefined {
  const e = err instanceof LockstepError ? null : asSuperagent(err);
  return e ? statusOf(e) : undefined;
}

export function classifyAsanaError(err: unknown): ErrorClass {
  if (err instanceof LockstepError) {
    return {
      category: err.category,
      retriable: err.retriable,
      ...(err.retryAfterMs !== undefined && { retryAfterMs: err.retryAfterMs }),
    };
  }
  const e = asSuperagent(err);
  const status = e ? statusOf(e) : undefined;
  if (e && status !== undefined) {
    const cls = classifyHttpStatus(status);
    const { retryAfterMs } = asanaBudgetHeaders(e);
    return retryAfterMs !== undefined && cls.retriable ? { ...cls, retryAfterMs } : cls;
  }
  return networkClass(err) ?? UNKNOWN;
}

/** Asana's own words for the failure: the messages of `errors[]` in the response body. */
function asanaMessages(e: SuperagentError): string[] {
  const body: unknown = e.response?.body;
  const errors =
    typeof body === 'object' && body !== null && 'errors' in body && Array.isArray(body.errors)
      ? (body.errors as unknown[])
      : [];
  return errors.flatMap((x) =>
    typeof x === 'object' && x !== null && 'message' in x && typeof x.message === 'string' ? [x.message] : [],
  );
}

/** One line: the SDK's message, the status and Asana's `errors[].message` ("Not Found (404): task: Unknown object: 12"). */
export function describeAsanaError(err: unknown): string {
  const e = err instanceof LockstepError ? null : asSuperagent(err);
  const messages = e ? asanaMessages(e) : [];
  const status = e ? statusOf(e) : undefined;
  const line =
    e && messages.length > 0
      ? `${e.message}${status !== undefined ? ` (${status})` : ''}: ${messages.join('; ')}`
      : describeSdkError(err);
  return line.replace(/\s*[\r\n]+\s*/g, ' ');
}
