/**
 * Outgoing webhook deliveries with the platform's retry schedule (compressed by `timeScale` for
 * tests) and the injected delivery faults: drop, duplicate, reorder.
 */
import type { FaultBook } from './faults.ts';

export interface BuiltDelivery {
  headers: Record<string, string>;
  body: string;
}

export interface RetryPolicy {
  /** The platform's real delays between attempts, before compression. */
  delaysMs: number[];
  /** Whether a response status is worth a retry (network errors always are). */
  retryOn(status: number, headers: Headers): boolean;
  timeoutMs: number;
}

export interface DeliveryRecord {
  deliveryId: string;
  url: string;
  attempt: number;
  atMs: number;
  outcome: 'delivered' | 'failed' | 'dropped' | 'error';
  status: number | null;
  error: string | null;
}

interface Pending {
  deliveryId: string;
  url: string;
  build: (attempt: number) => BuiltDelivery;
}

export class WebhookDispatcher {
  readonly log: DeliveryRecord[] = [];
  private inFlight = new Set<Promise<void>>();
  private held: Pending[] = [];
  /** Set by `abandonRetries`: waits for a retry end now, and no further attempt is made. */
  private abandoned = false;
  private wakeRetries = new Set<() => void>();

  private readonly faults: FaultBook;
  private readonly retry: RetryPolicy;
  private readonly timeScale: () => number;

  constructor(faults: FaultBook, retry: RetryPolicy, timeScale: () => number) {
    this.faults = faults;
    this.retry = retry;
    this.timeScale = timeScale;
  }

  /** Queues one delivery; `build(attempt)` returns the signed request for attempt 0, 1, … */
  deliver(deliveryId: string, url: string, build: (attempt: number) => BuiltDelivery): void {
    const p: Pending = { deliveryId, url, build };
    const fault = this.faults.takeWebhook();
    if (fault?.kind === 'webhook_drop') {
      this.record(p, 0, 'dropped', null, null);
      return;
    }
    if (fault?.kind === 'webhook_reorder') {
      this.held.push(p);
      if (!this.faults.pendingReorder()) {
        const batch = this.held.reverse();
        this.held = [];
        // One after the other: sent concurrently, they could still arrive in the original order.
        this.track(
          (async () => {
            for (const h of batch) await this.send(h, 0);
          })(),
        );
      }
      return;
    }
    const copies = fault?.kind === 'webhook_duplicate' ? (fault.times ?? 2) : 1;
    for (let i = 0; i < copies; i++) this.track(this.send(p, 0));
  }

  /** Deliveries queued or on the wire (with their retries); a held (reordered) one is not counted. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Resolves when every queued delivery (including its retries) has finished. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Gives up every retry that is waiting (an emulator that closes sends nothing more): an attempt
   * on the wire still ends (bounded by the policy's timeout). Without it, closing an emulator
   * whose receiver was down waited out the platform's whole retry schedule (Linear's last retry
   * is 6 h after the first, 18 min even at a time scale of 0.05).
   */
  abandonRetries(): void {
    this.abandoned = true;
    for (const wake of this.wakeRetries) wake();
    this.wakeRetries.clear();
  }

  clear(): void {
    this.log.length = 0;
    this.held = [];
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async send(p: Pending, attempt: number): Promise<void> {
    const { headers, body } = p.build(attempt);
    let retry = false;
    try {
      const res = await fetch(p.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        signal: AbortSignal.timeout(this.retry.timeoutMs),
      });
      await res.arrayBuffer();
      const ok = res.status >= 200 && res.status < 300;
      this.record(p, attempt, ok ? 'delivered' : 'failed', res.status, null);
      retry = !ok && this.retry.retryOn(res.status, res.headers);
    } catch (err) {
      this.record(p, attempt, 'error', null, err instanceof Error ? err.message : String(err));
      retry = true;
    }
    const delay = this.retry.delaysMs[attempt];
    if (retry && delay !== undefined && !this.abandoned) {
      await new Promise<void>((resolve) => {
        const wake = () => (clearTimeout(t), this.wakeRetries.delete(wake), resolve());
        const t = setTimeout(wake, Math.max(0, Math.round(delay * this.timeScale())));
        this.wakeRetries.add(wake);
      });
      if (!this.abandoned) await this.send(p, attempt + 1);
    }
  }

  private record(
    p: Pending,
    attempt: number,
    outcome: DeliveryRecord['outcome'],
    status: number | null,
    error: string | null,
  ): void {
    this.log.push({
      deliveryId: p.deliveryId,
      url: p.url,
      attempt,
      atMs: Date.now(),
      outcome,
      status,
      error,
    });
  }
}
