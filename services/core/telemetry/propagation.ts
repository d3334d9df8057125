/**
 * Carrying a trace across a hop the instrumentations cannot see (the reconciler's Postgres outbox,
 * kafkajs batch consumers, whose per-message spans start a new trace with only a link back).
 * Headers are W3C trace context (`traceparent`, `tracestate`) as plain strings.
 * Rule: telemetry never breaks the data path. Missing or malformed headers mean "no parent"; any
 * failure here runs `fn` in the current context instead.
 */
import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';

export type TraceHeaders = Record<string, string>;

/**
 * The trace context headers found in `headers` (e.g. a consumed Kafka record's), or the active
 * context's when called without arguments; null when there is no valid trace context.
 */
export function traceHeadersOf(headers?: Readonly<Record<string, unknown>> | null): TraceHeaders | null {
  try {
    const ctx = headers === undefined ? context.active() : contextOf(headers);
    if (!ctx) return null;
    const span = trace.getSpanContext(ctx);
    if (!span || !trace.isSpanContextValid(span)) return null;
    const out: TraceHeaders = {};
    propagation.inject(ctx, out);
    return Object.keys(out).length > 0 ? out : null;
  } catch {
    return null;
  }
}

/**
 * Runs `fn` with the trace context in `headers` as the parent of the spans it starts. Without a
 * valid context in `headers` (or without an SDK), `fn` simply runs in the current context.
 */
export function withTraceHeaders<T>(
  headers: Readonly<Record<string, unknown>> | null | undefined,
  fn: () => T,
): T {
  let ctx;
  try {
    ctx = contextOf(headers);
  } catch {
    ctx = null;
  }
  return ctx ? context.with(ctx, fn) : fn();
}

function contextOf(headers: Readonly<Record<string, unknown>> | null | undefined) {
  if (!headers || typeof headers !== 'object') return null;
  const carrier: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (typeof v === 'string') carrier[k.toLowerCase()] = v;
  const ctx = propagation.extract(ROOT_CONTEXT, carrier);
  const span = trace.getSpanContext(ctx);
  return span && trace.isSpanContextValid(span) ? ctx : null;
}
