export { backoffDelay, retry, type BackoffOptions, type RetryOptions } from './backoff.ts';
export { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.ts';
export { RateBudget, type BudgetObservation, type RateBudgetOptions } from './rate-budget.ts';
