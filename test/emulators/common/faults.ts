/**
 * Injected faults. API faults apply to the next `count` matching calls or for a time window;
 * webhook faults apply to the next `count` deliveries (first attempts, not retries).
 */
export interface FaultMatch {
  method?: string;
  /** Matches when the request path starts with this. */
  pathPrefix?: string;
  /** Matches the platform's operation name (GraphQL root field, Slack method). */
  operation?: string;
  /** Matches the acting user id. */
  actor?: string;
}

export type ApiFault =
  | { kind: 'rate_limit'; retryAfterSec: number; count?: number; forMs?: number; match?: FaultMatch }
  | { kind: 'server_error'; status?: number; count?: number; forMs?: number; match?: FaultMatch }
  | { kind: 'latency'; ms: number; count?: number; forMs?: number; match?: FaultMatch }
  /**
   * Never answer. With `applied: true` the request is carried out first and only the answer is
   * withheld: a write the platform made whose response the client never gets.
   */
  | { kind: 'timeout'; applied?: boolean; count?: number; forMs?: number; match?: FaultMatch };

export type WebhookFault =
  | { kind: 'webhook_drop'; count: number }
  | { kind: 'webhook_duplicate'; count: number; times?: number }
  /** Holds the next `count` deliveries and sends them in reverse order once all are held. */
  | { kind: 'webhook_reorder'; count: number };

export type Fault = ApiFault | WebhookFault;

interface Armed<F> {
  fault: F;
  remaining: number;
  untilMs: number;
}

export function isWebhookFault(f: Fault): f is WebhookFault {
  return f.kind.startsWith('webhook_');
}

export class FaultBook {
  private api: Armed<ApiFault>[] = [];
  private hooks: Armed<WebhookFault>[] = [];

  add(fault: Fault): void {
    if (isWebhookFault(fault)) {
      this.hooks.push({ fault, remaining: fault.count, untilMs: Infinity });
      return;
    }
    const untilMs = fault.forMs === undefined ? Infinity : Date.now() + fault.forMs;
    const remaining = fault.count ?? (fault.forMs === undefined ? 1 : Infinity);
    this.api.push({ fault, remaining, untilMs });
  }

  clear(): void {
    this.api = [];
    this.hooks = [];
  }

  /** The API faults that fire for this request (consumes one use of each). */
  takeApi(req: { method: string; path: string; operation: string | null; actor: string }): ApiFault[] {
    const now = Date.now();
    this.api = this.api.filter((a) => a.remaining > 0 && a.untilMs > now);
    const hits: ApiFault[] = [];
    for (const a of this.api) {
      if (!matches(a.fault.match, req)) continue;
      a.remaining--;
      hits.push(a.fault);
    }
    return hits;
  }

  takeWebhook(): WebhookFault | null {
    const armed = this.hooks.find((h) => h.remaining > 0);
    if (!armed) return null;
    armed.remaining--;
    this.hooks = this.hooks.filter((h) => h.remaining > 0 || h === armed);
    return armed.fault;
  }

  pendingReorder(): boolean {
    return this.hooks.some((h) => h.fault.kind === 'webhook_reorder' && h.remaining > 0);
  }
}

function matches(
  m: FaultMatch | undefined,
  req: { method: string; path: string; operation: string | null; actor: string },
): boolean {
  if (!m) return true;
  if (m.method && m.method.toUpperCase() !== req.method) return false;
  if (m.pathPrefix && !req.path.startsWith(m.pathPrefix)) return false;
  if (m.operation && m.operation !== req.operation) return false;
  if (m.actor && m.actor !== req.actor) return false;
  return true;
}
