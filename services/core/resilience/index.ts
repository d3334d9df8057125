export { backoffDelay, retry, type BackoffOptions, type RetryOptions } from './backoff.ts';
export { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.ts';
export {
  meteredFetch,
  requestTimeout,
  TIMEOUT_CODE,
  type MeteredFetchOptions,
  type RequestBudget,
} from './metered-fetch.ts';
export { RateBudget, type BudgetObservation, type RateBudgetOptions } from './rate-budget.ts';
