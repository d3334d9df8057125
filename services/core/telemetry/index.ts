export {
  activeTraceId,
  startTelemetry,
  withSpan,
  type Telemetry,
  type TelemetryConfig,
} from './telemetry.ts';
export { traceHeadersOf, withTraceHeaders, type TraceHeaders } from './propagation.ts';
