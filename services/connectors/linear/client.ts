/**
 * The one place a @linear/sdk client is built (egress, pollers, admin helpers), so every request
 * has a timeout and draws from the Linear budget. All Lockstep's Linear calls go through
 * `client.client.rawRequest` (one POST each); the SDK's GraphQL client is replaced by one that
 * meters it. The SDK calls the global fetch and spreads its options into fetch's init on every
 * request, so a `signal` getter in those options gives each request its own timeout.
 *
 * Linear's rate-limit headers (PLATFORMS.md §1): `X-RateLimit-Requests-{Limit,Remaining,Reset}`
 * (reset in epoch ms) and `X-RateLimit-Complexity-{Limit,Remaining,Reset}`; a 429 / RATELIMITED
 * error may carry `Retry-After` (seconds).
 */
import { LinearClient, LinearError, LinearGraphQLClient, type LinearRawResponse } from '@linear/sdk';
import { requestTimeout, type BudgetObservation, type RequestBudget } from '../../core/resilience/index.ts';
import type { LinearConfig } from './config.ts';

const num = (v: string | null): number | undefined => {
  const n = Number(v ?? NaN);
  return v !== null && v !== '' && Number.isFinite(n) ? n : undefined;
};

/**
 * Requests left and complexity points left are two budgets; one request costs one request and some
 * points, so whichever runs out first limits us. Complexity is given in points, so it only stops
 * us when it is spent (remaining 0) — its reset is then when we may go again.
 */
export function linearBudgetHeaders(h: Headers, _status: number, nowMs: number): BudgetObservation {
  const o: BudgetObservation = {};
  const remaining = num(h.get('x-ratelimit-requests-remaining'));
  const reset = num(h.get('x-ratelimit-requests-reset'));
  if (remaining !== undefined) o.remaining = remaining;
  if (reset !== undefined && reset > nowMs) o.resetAtMs = reset;
  const points = num(h.get('x-ratelimit-complexity-remaining'));
  const pointsReset = num(h.get('x-ratelimit-complexity-reset'));
  if (points !== undefined && points <= 0 && pointsReset !== undefined && pointsReset > nowMs) {
    o.remaining = 0;
    o.resetAtMs = Math.max(o.resetAtMs ?? 0, pointsReset);
  }
  const after = num(h.get('retry-after'));
  if (after !== undefined && after >= 0) o.retryAfterMs = Math.ceil(after * 1000);
  return o;
}

/** The response headers an SDK error kept (LinearError.raw is the GraphQL client's error). */
function headersOf(err: unknown): Headers | undefined {
  const raw =
    err instanceof LinearError ? (err.raw as { response?: { headers?: unknown } } | undefined) : undefined;
  const h = raw?.response?.headers;
  return h instanceof Headers ? h : undefined;
}

class MeteredGraphQLClient extends LinearGraphQLClient {
  private readonly budget: RequestBudget | undefined;
  private readonly timeoutMs: number;

  constructor(url: string, init: RequestInit, timeoutMs: number, budget: RequestBudget | undefined) {
    super(url, init);
    this.budget = budget;
    this.timeoutMs = timeoutMs;
  }

  override async rawRequest<Data, Variables extends Record<string, unknown>>(
    query: string,
    variables?: Variables,
    requestHeaders?: RequestInit['headers'],
  ): Promise<LinearRawResponse<Data>> {
    // The wait for budget is not part of the timeout: only the platform's silence is.
    await this.budget?.acquire();
    try {
      const res = await super.rawRequest<Data, Variables>(query, variables, requestHeaders);
      if (res.headers) this.budget?.observe(linearBudgetHeaders(res.headers, res.status ?? 200, Date.now()));
      return res;
    } catch (err) {
      const h = headersOf(err);
      if (h)
        this.budget?.observe(
          linearBudgetHeaders(h, err instanceof LinearError ? (err.status ?? 0) : 0, Date.now()),
        );
      // fetch rejects with the signal's reason; only our timeout signal gives a TimeoutError.
      if (err instanceof Error && err.name === 'TimeoutError')
        throw requestTimeout('linear', this.timeoutMs, err);
      throw err;
    }
  }
}

export function linearClient(cfg: LinearConfig, budget?: RequestBudget): LinearClient {
  const client = new LinearClient({ apiKey: cfg.apiKey.reveal(), apiUrl: cfg.apiUrl });
  const timeoutMs = cfg.requestTimeoutMs;
  const init: RequestInit = {
    headers: client.options.headers,
    // Read by the SDK once per request (it spreads these options into fetch's init).
    get signal() {
      return AbortSignal.timeout(timeoutMs);
    },
  };
  client.client = new MeteredGraphQLClient(client.options.apiUrl, init, timeoutMs, budget);
  return client;
}
