/**
 * JSON logs with the active trace id on every line and no secrets. `Secret` values already print
 * `[redacted]`; redaction here catches raw credentials that arrive in headers or payloads.
 */
import { trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

const SECRET_KEYS = [
  'authorization',
  'Authorization',
  'cookie',
  'set-cookie',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'apiKey',
  'api_key',
  'apiToken',
  'password',
  'secret',
  'clientSecret',
  'client_secret',
  'signingSecret',
  'webhookSecret',
];

// pino's redact paths are fast-redact paths: a wildcard matches one level, so cover the shapes
// that occur (top level, one object deep, and request/response headers).
export function redactPaths(keys: readonly string[]): string[] {
  return [
    ...keys,
    ...keys.map((k) => `*.${k}`),
    ...keys.map((k) => `*.*.${k}`),
    ...keys.map((k) => `*.headers.${k}`),
    ...keys.map((k) => `*.*.headers.${k}`),
  ].map((p) =>
    p
      .split('.')
      .map((seg) => (seg === '*' || /^[A-Za-z_$][\w$]*$/.test(seg) ? seg : `["${seg}"]`))
      .join('.')
      .replace(/\.\[/g, '['),
  );
}

/** The paths of the generic secret keys (credentials whatever the platform). */
export const REDACT_PATHS = redactPaths(SECRET_KEYS);

export interface LoggerOptions {
  level?: string;
  name?: string;
  /**
   * Header names that carry a platform's signature or credentials (the registry's SECRET_HEADERS:
   * core cannot import the connector registry), redacted like the generic secret keys.
   */
  secretHeaders?: readonly string[];
  /** For tests: where lines go (default stdout). */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      name: opts.name,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [...REDACT_PATHS, ...redactPaths(opts.secretHeaders ?? [])],
        censor: '[redacted]',
      },
      // Read at each call so the line carries the span active when it was logged.
      mixin() {
        const ctx = trace.getActiveSpan()?.spanContext();
        return ctx && ctx.traceId !== '00000000000000000000000000000000'
          ? { traceId: ctx.traceId, spanId: ctx.spanId }
          : {};
      },
    },
    opts.destination,
  );
}
