/**
 * A per-platform request budget: a token bucket sized from the platform's published limits,
 * corrected by what its responses say (remaining/reset headers) and stopped outright by a
 * Retry-After until that moment has passed. No request leaves before `acquire()` resolves.
 */
export interface RateBudgetOptions {
  /** Requests allowed per `perMs` (the published limit). */
  limit: number;
  perMs: number;
  /** Largest burst; defaults to `limit`. */
  burst?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface BudgetObservation {
  /** Requests left in the platform's current window, when it says. */
  remaining?: number;
  /** When the platform's window resets (epoch ms), when it says. */
  resetAtMs?: number;
  /** Retry-After, in ms, from a 429. */
  retryAfterMs?: number;
}

export class RateBudget {
  private tokens: number;
  private last: number;
  private blockedUntil = 0;
  /** While the platform says little is left before its window resets: the slower rate, and until when. */
  private slow: { ratePerMs: number; untilMs: number } | null = null;
  private readonly ratePerMs: number;
  private readonly burst: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private queue: Promise<void> = Promise.resolve();

  constructor(opts: RateBudgetOptions) {
    this.ratePerMs = opts.limit / opts.perMs;
    this.burst = opts.burst ?? opts.limit;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Waits for one request's worth of budget. Callers are served in order. */
  acquire(): Promise<void> {
    const turn = this.queue.then(() => this.take());
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Feeds back what a response said. */
  observe(o: BudgetObservation): void {
    const now = this.now();
    if (o.retryAfterMs !== undefined) this.blockedUntil = Math.max(this.blockedUntil, now + o.retryAfterMs);
    if (o.remaining !== undefined) {
      this.refill(now);
      this.tokens = Math.min(this.tokens, o.remaining);
      if (o.remaining <= 0 && o.resetAtMs !== undefined)
        this.blockedUntil = Math.max(this.blockedUntil, o.resetAtMs);
      // Fewer left than our own rate would spend before the reset (other clients share the
      // platform's quota, or our published figure is too generous): spread what is left.
      else if (o.resetAtMs !== undefined && o.resetAtMs > now) {
        const spread = o.remaining / (o.resetAtMs - now);
        this.slow = spread < this.ratePerMs ? { ratePerMs: spread, untilMs: o.resetAtMs } : null;
      }
    }
  }

  /** Milliseconds until a request may leave (0 when it may go now). */
  waitMs(): number {
    const now = this.now();
    this.refill(now);
    const blocked = Math.max(0, this.blockedUntil - now);
    const forToken = this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.rate(now));
    return Math.max(blocked, forToken);
  }

  /** How much of the budget is left now: tokens out of the burst (0..1), and ms until a request may leave. */
  headroom(): { ratio: number; waitMs: number } {
    const waitMs = this.waitMs();
    return { ratio: Math.max(0, Math.min(1, this.tokens / this.burst)), waitMs };
  }

  private async take(): Promise<void> {
    for (let wait = this.waitMs(); wait > 0; wait = this.waitMs()) await this.sleep(wait);
    this.tokens -= 1;
  }

  private rate(now: number): number {
    if (this.slow && now >= this.slow.untilMs) this.slow = null;
    return this.slow ? this.slow.ratePerMs : this.ratePerMs;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.rate(now));
    this.last = now;
  }
}
