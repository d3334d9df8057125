export {
  ConfigError,
  coreConfigSchema,
  coreConfigShape,
  defineConfigSchema,
  defaultConfigFile,
  ENV_OVERRIDES,
  formatIssues,
  kafkaSchema,
  loadConfig,
  type CoreConfig,
} from './config.ts';
export { Secret, secret, secretRef, type SecretRef } from './secret.ts';
export { durationOrOffSchema, formatDuration, parseDuration } from './duration.ts';
