/**
 * OpenTelemetry tracing: http, pg and kafkajs instrumentations, OTLP/HTTP export to Jaeger.
 * Rule: telemetry never breaks the data path. Export failures are reported by the SDK's diag
 * logger and dropped; start/shutdown failures are caught here. Spans are named `<operation> <target>`.
 *
 * Under ESM, kafkajs is only patched if the loader hook is registered before anything imports it:
 * run services with `node --import ./services/core/telemetry/preload.ts …` (see preload.ts).
 */
import { SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK, tracing } from '@opentelemetry/sdk-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { CoreConfig } from '../config/index.ts';

export type TelemetryConfig = CoreConfig['telemetry'];

export interface Telemetry {
  readonly enabled: boolean;
  /** Flush and stop; never throws, gives up after `timeoutMs`. */
  shutdown(timeoutMs?: number): Promise<void>;
}

const noop: Telemetry = { enabled: false, shutdown: async () => {} };
let active: Telemetry | undefined;

/**
 * Start the SDK once per process (a second call returns the first handle). `spanExporter` replaces
 * the OTLP exporter (tests use an in-memory one).
 */
export function startTelemetry(
  config: TelemetryConfig,
  opts: { spanExporter?: tracing.SpanExporter; onError?: (err: unknown) => void } = {},
): Telemetry {
  if (active) return active;
  if (!config.enabled) return (active = noop);
  try {
    const exporter =
      opts.spanExporter ?? new OTLPTraceExporter({ url: config.otlpHttpEndpoint, timeoutMillis: 5000 });
    const sdk = new NodeSDK({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }),
      autoDetectResources: false,
      spanProcessors: [
        opts.spanExporter
          ? new tracing.SimpleSpanProcessor(exporter)
          : new tracing.BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 }),
      ],
      // Traces only: without these the SDK configures OTLP metrics/logs from OTEL_* env on its own.
      metricReaders: [],
      logRecordProcessors: [],
      instrumentations: [
        new HttpInstrumentation({
          // Scrapes and probes are noise, not syncs.
          ignoreIncomingRequestHook: (req) => /^\/(metrics|healthz|readyz)\b/.test(req.url ?? ''),
        }),
        // Node's fetch (undici) is not node:http: the connectors' SDK clients send through a
        // metered fetch (core/resilience), so their API calls are traced here.
        new UndiciInstrumentation(),
        new PgInstrumentation(),
        new KafkaJsInstrumentation(),
      ],
    });
    sdk.start();
    active = {
      enabled: true,
      async shutdown(timeoutMs = 5000) {
        try {
          await Promise.race([sdk.shutdown(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
        } catch (err) {
          opts.onError?.(err);
        }
      },
    };
    return active;
  } catch (err) {
    opts.onError?.(err);
    return (active = noop);
  }
}

const tracer = () => trace.getTracer('lockstep');

/**
 * Run `fn` inside an active span named `<operation> <target>` (e.g. `apply jira`). Errors are
 * recorded on the span and rethrown unchanged; without an SDK this is a plain call.
 */
export function withSpan<T>(
  name: string,
  fn: (span: Span) => T | Promise<T>,
  attributes?: Attributes,
): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      try {
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: err instanceof Error ? err.message : String(err),
        });
      } catch {
        // never let telemetry replace the real error
      }
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The active trace id, if any (for logs and error reports). */
export function activeTraceId(): string | undefined {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx && trace.isSpanContextValid(ctx) ? ctx.traceId : undefined;
}
