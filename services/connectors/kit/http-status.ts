/**
 * The HTTP status → error class table every connector starts from (issue 9, connector kit). A
 * connector classifies its SDK's own error types first (errors.ts) and falls back to the status
 * here; one that must not treat some status as the table does passes its own subset.
 */
import type { ErrorClass } from '../types.ts';

/**
 * The transient set (408, 409, 425, 429, 5xx) is the one platforms retry their own webhooks on
 * (Jira documents it); 409 is a concurrent edit, worth one more try after backoff.
 */
export const HTTP_STATUS_CLASSES: Readonly<Record<number, ErrorClass>> = {
  400: { category: 'validation', retriable: false },
  401: { category: 'auth', retriable: false, credentialsRefused: true },
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

/** The table's entries for `statuses` only: for a connector whose SDK says more than some statuses do. */
export function statusClasses(statuses: readonly number[]): Readonly<Record<number, ErrorClass>> {
  return Object.fromEntries(
    statuses.flatMap((s) => (HTTP_STATUS_CLASSES[s] ? [[s, HTTP_STATUS_CLASSES[s]] as const] : [])),
  );
}

/** `status` by `table`; any 5xx is a retriable network error; anything else, or no status, is unknown. */
export function classifyHttpStatus(
  status: number | undefined,
  table: Readonly<Record<number, ErrorClass>> = HTTP_STATUS_CLASSES,
): ErrorClass {
  if (status === undefined) return UNKNOWN;
  return table[status] ?? (status >= 500 ? SERVER_ERROR : UNKNOWN);
}
