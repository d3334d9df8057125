/**
 * One breaker per platform. After `failureThreshold` consecutive retriable failures it opens: the
 * caller pauses that platform's consumer (commands wait in Kafka, other platforms flow on). After
 * `openMs` it lets one probe through (half-open); success closes it, failure opens it again.
 */
export type BreakerState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  failureThreshold: number;
  openMs: number;
  now?: () => number;
  onStateChange?: (state: BreakerState) => void;
}

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private readonly opts: CircuitBreakerOptions;
  private readonly now: () => number;

  constructor(opts: CircuitBreakerOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  current(): BreakerState {
    if (this.state === 'open' && this.now() - this.openedAt >= this.opts.openMs) this.set('half_open');
    return this.state;
  }

  /** Whether a call may go out now. */
  allows(): boolean {
    return this.current() !== 'open';
  }

  /** Milliseconds until the breaker lets a probe through (0 unless open). */
  remainingOpenMs(): number {
    return this.current() === 'open' ? this.opts.openMs - (this.now() - this.openedAt) : 0;
  }

  success(): void {
    this.current();
    this.failures = 0;
    if (this.state !== 'closed') this.set('closed');
  }

  /** Count a failure that says the platform is unwell (network, 5xx, rate limit) — not a bad command. */
  failure(): void {
    this.failures++;
    if (this.state === 'half_open' || this.failures >= this.opts.failureThreshold) {
      this.openedAt = this.now();
      this.set('open');
    }
  }

  private set(s: BreakerState): void {
    if (s === this.state) return;
    this.state = s;
    this.opts.onStateChange?.(s);
  }
}
