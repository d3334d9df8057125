/**
 * A sync's trace as a waterfall, from Jaeger's query API (`GET /api/traces/<id>`): Jaeger's own
 * UI is not part of the stack everywhere, so the page draws the spans itself. `waterfall` is pure
 * (tested with a fixture); `fetchTrace` is the I/O.
 */

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: { refType: string; traceID: string; spanID: string }[];
  /** Microseconds since the epoch. */
  startTime: number;
  /** Microseconds. */
  duration: number;
  processID: string;
  tags?: { key: string; value: unknown }[];
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

export interface WaterfallRow {
  spanId: string;
  depth: number;
  service: string;
  operation: string;
  kind: string | null;
  error: boolean;
  /** From the trace's first span start, in ms. */
  offsetMs: number;
  durationMs: number;
  /** Bar position and width as a percentage of the trace's span. */
  leftPct: number;
  widthPct: number;
}

export interface Waterfall {
  traceId: string;
  startMs: number;
  totalMs: number;
  services: string[];
  rows: WaterfallRow[];
}

const TRACE_ID = /^[0-9a-f]{16,32}$/;

export function isTraceId(s: string): boolean {
  return TRACE_ID.test(s);
}

/** The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), or null. */
export function traceIdOf(traceparent: string | null | undefined): string | null {
  const m = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent ?? '');
  return m?.[1] && !/^0+$/.test(m[1]) ? m[1] : null;
}

/** Spans in tree order (each parent before its children, siblings by start time), with depth. */
export function waterfall(t: JaegerTrace): Waterfall {
  const byId = new Map(t.spans.map((s) => [s.spanID, s]));
  const parentOf = (s: JaegerSpan) => {
    const p = s.references?.find((r) => r.refType === 'CHILD_OF')?.spanID;
    return p !== undefined && byId.has(p) ? p : null;
  };
  const children = new Map<string | null, JaegerSpan[]>();
  for (const s of t.spans) {
    const p = parentOf(s);
    children.set(p, [...(children.get(p) ?? []), s]);
  }
  for (const list of children.values()) list.sort((a, b) => a.startTime - b.startTime);
  const start = Math.min(...t.spans.map((s) => s.startTime));
  const end = Math.max(...t.spans.map((s) => s.startTime + s.duration));
  const total = Math.max(1, end - start);
  const rows: WaterfallRow[] = [];
  const seen = new Set<string>();
  const visit = (s: JaegerSpan, depth: number) => {
    if (seen.has(s.spanID)) return; // a malformed trace with a reference cycle
    seen.add(s.spanID);
    const tag = (k: string) => s.tags?.find((x) => x.key === k)?.value;
    rows.push({
      spanId: s.spanID,
      depth,
      service: t.processes[s.processID]?.serviceName ?? s.processID,
      operation: s.operationName,
      kind: typeof tag('span.kind') === 'string' ? (tag('span.kind') as string) : null,
      error: tag('error') === true || tag('otel.status_code') === 'ERROR',
      offsetMs: (s.startTime - start) / 1000,
      durationMs: s.duration / 1000,
      leftPct: ((s.startTime - start) / total) * 100,
      widthPct: Math.max(0.3, (s.duration / total) * 100),
    });
    for (const c of children.get(s.spanID) ?? []) visit(c, depth + 1);
  };
  for (const root of children.get(null) ?? []) visit(root, 0);
  return {
    traceId: t.traceID,
    startMs: start / 1000,
    totalMs: total / 1000,
    services: [...new Set(rows.map((r) => r.service))].sort(),
    rows,
  };
}

export type TraceResult =
  { ok: true; trace: JaegerTrace } | { ok: false; status: 'not_found' | 'unreachable'; error: string };

/** One trace by id from Jaeger's query API; not found (not yet indexed, or expired) is a value. */
export async function fetchTrace(queryUrl: string, traceId: string, timeoutMs = 5000): Promise<TraceResult> {
  const url = `${queryUrl.replace(/\/+$/, '')}/api/traces/${traceId}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    return {
      ok: false,
      status: 'unreachable',
      error: `reading trace ${traceId} from Jaeger: ${String(err)}`,
    };
  }
  if (res.status === 404) {
    await res.body?.cancel();
    return { ok: false, status: 'not_found', error: `trace ${traceId} is not in Jaeger (yet)` };
  }
  if (!res.ok) {
    await res.body?.cancel();
    return {
      ok: false,
      status: 'unreachable',
      error: `reading trace ${traceId} from Jaeger: HTTP ${res.status}`,
    };
  }
  const body = (await res.json()) as { data?: JaegerTrace[] | null };
  const trace = body.data?.[0];
  if (!trace || trace.spans.length === 0)
    return { ok: false, status: 'not_found', error: `trace ${traceId} is not in Jaeger (yet)` };
  return { ok: true, trace };
}
