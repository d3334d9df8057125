/**
 * The one place a jira.js client is built (egress, pollers, admin helpers), so every request has
 * a timeout and draws from the Jira budget. jira.js sends through axios; axios' fetch adapter is
 * given our metered fetch (`env.fetch`).
 *
 * Jira Cloud's rate-limit headers (PLATFORMS.md §1): `X-RateLimit-Remaining` and
 * `X-RateLimit-Reset` (ISO-8601) on responses near or over the limit, `Retry-After` (seconds) on a
 * 429 and on some 503s.
 */
import { Version3Client } from 'jira.js';
import { meteredFetch, type BudgetObservation, type RequestBudget } from '../../core/resilience/index.ts';
import type { JiraConfig } from './config.ts';

export function jiraBudgetHeaders(h: Headers, status: number, nowMs: number): BudgetObservation {
  const o: BudgetObservation = {};
  const remaining = Number(h.get('x-ratelimit-remaining') ?? NaN);
  if (Number.isFinite(remaining)) o.remaining = remaining;
  const reset = Date.parse(h.get('x-ratelimit-reset') ?? '');
  if (Number.isFinite(reset)) o.resetAtMs = reset;
  const after = Number(h.get('retry-after') ?? NaN);
  if ((status === 429 || status === 503) && Number.isFinite(after) && after >= 0)
    o.retryAfterMs = Math.ceil(after * 1000);
  if (o.resetAtMs !== undefined && o.resetAtMs < nowMs) delete o.resetAtMs;
  return o;
}

export function jiraClient(cfg: JiraConfig, budget?: RequestBudget): Version3Client {
  return new Version3Client({
    host: cfg.host,
    authentication: { basic: { email: cfg.email, apiToken: cfg.apiToken.reveal() } },
    baseRequestConfig: {
      adapter: 'fetch',
      env: {
        fetch: meteredFetch({
          what: 'jira',
          timeoutMs: cfg.requestTimeoutMs,
          budget,
          readBudget: jiraBudgetHeaders,
        }),
      },
    },
  });
}
