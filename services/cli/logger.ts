/**
 * The logger a one-shot command uses: to stderr, so stdout stays the command's own output (JSON
 * lines with --json), quieter than the services (`info` becomes `warn`), and with every
 * connector's secret headers redacted.
 */
import pino from 'pino';
import { SECRET_HEADERS } from '../connectors/registry.ts';
import type { CoreConfig } from '../core/config/index.ts';
import { createLogger, type Logger } from '../core/logging/index.ts';

export function cliLogger(config: Pick<CoreConfig, 'logLevel'>): Logger {
  return createLogger({
    level: config.logLevel === 'info' ? 'warn' : config.logLevel,
    secretHeaders: SECRET_HEADERS,
    destination: pino.destination(2),
  });
}
