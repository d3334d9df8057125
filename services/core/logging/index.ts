export { createLogger, REDACT_PATHS, redactPaths, type Logger, type LoggerOptions } from './logger.ts';
