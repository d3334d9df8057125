export {
  activeTraceId,
  startTelemetry,
  withSpan,
  type Telemetry,
  type TelemetryConfig,
} from './telemetry.ts';
