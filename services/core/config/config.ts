/**
 * lockstep.yaml: parsed once at start-up, every problem reported at once with its path.
 * This folder is the only code that reads process.env (STYLE.md rule 4).
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { withSecretEnv } from './secret.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

const topicName = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'must be a valid Kafka topic name');
const retentionMs = z.number().int().positive();

export const kafkaSchema = z
  .object({
    brokers: z
      .array(z.string().regex(/^[^:\s]+:\d{1,5}$/, 'must be host:port'))
      .min(1)
      .default(['127.0.0.1:9092']),
    clientId: z.string().min(1).default('lockstep'),
    topics: z
      .object({
        changes: topicName.default('lockstep.changes.v1'),
        // commands.<platform>: `${commandsPrefix}${platform}.v1`
        commandsPrefix: z
          .string()
          .regex(/^[a-zA-Z0-9._-]+$/)
          .default('lockstep.commands.'),
        outcomes: topicName.default('lockstep.outcomes.v1'),
        conflicts: topicName.default('lockstep.conflicts.v1'),
        dlq: topicName.default('lockstep.dlq.v1'),
        // One record per field of every write egress makes (services/egress/audit.ts).
        audit: topicName.default('lockstep.audit.v1'),
      })
      .strict()
      .prefault({}),
    partitions: z.number().int().min(1).default(6),
    replicationFactor: z.number().int().min(1).default(1),
    retentionMs: z
      .object({
        // A replay must be able to go back a full week (DESIGN.md).
        changes: retentionMs
          .min(7 * DAY_MS, 'must be at least 7 days (604800000 ms) so a week can be replayed')
          .default(7 * DAY_MS),
        commands: retentionMs.default(7 * DAY_MS),
        outcomes: retentionMs.default(7 * DAY_MS),
        conflicts: retentionMs.default(30 * DAY_MS),
        dlq: retentionMs.default(30 * DAY_MS),
        // The durable audit log is the Postgres table (`audit.retentionDays`); the topic is for shipping it elsewhere.
        audit: retentionMs.default(30 * DAY_MS),
      })
      .strict()
      .prefault({})
      .refine((r) => r.dlq > r.changes, { message: 'dlq must be kept longer than changes', path: ['dlq'] }),
  })
  .strict();

export const coreConfigShape = {
  kafka: kafkaSchema.prefault({}),
  registry: z
    .object({ url: z.url().default('http://127.0.0.1:8081/apis/ccompat/v7') })
    .strict()
    .prefault({}),
  postgres: z
    .object({
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
        .default('postgres://postgres@127.0.0.1:5433/lockstep'),
    })
    .strict()
    .prefault({}),
  telemetry: z
    .object({
      enabled: z.boolean().default(true),
      otlpHttpEndpoint: z.url().default('http://127.0.0.1:4318/v1/traces'),
      serviceName: z.string().min(1).default('lockstep'),
    })
    .strict()
    .prefault({}),
  http: z
    .object({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
    })
    .strict()
    .prefault({}),
  logLevel: z.enum(logLevels).default('info'),
  // Pruning of the dedupe and outbox tables (services/core/db/prune.ts), run by the reconciler:
  // rows older than the longest retention of changes, commands and outcomes plus `marginMs` go.
  prune: z
    .object({
      enabled: z.boolean().default(true),
      intervalMs: z
        .number()
        .int()
        .min(1000)
        .default(60 * 60 * 1000),
      // Kafka deletes whole segments: a record outlives retention.ms by up to the segment's age
      // (log.roll.ms / segment.ms; Kafka's default is 7 days). Set this to the brokers' value.
      segmentMs: z
        .number()
        .int()
        .min(0)
        .default(7 * DAY_MS),
      // Covers clock skew between brokers and Postgres, and how long a record may wait unread.
      marginMs: z.number().int().min(0).default(DAY_MS),
      batchSize: z.number().int().min(1).max(100_000).default(1000),
    })
    .strict()
    .prefault({}),
};

/** Core sections only. Services that need `connectors`/`flows` build theirs with defineConfigSchema. */
export const coreConfigSchema = z.object(coreConfigShape).strict();
export type CoreConfig = z.infer<typeof coreConfigSchema>;

/** The root schema with extra top-level sections, e.g. `defineConfigSchema({ connectors, flows })`. */
export function defineConfigSchema<E extends z.ZodRawShape>(extra: E) {
  return coreConfigSchema.extend(extra);
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(`loading configuration ${source}: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Documented environment overrides, applied to the raw document before validation so that a bad
 * value is reported with its config path. Values are strings; numbers/booleans/lists are coerced.
 */
export const ENV_OVERRIDES: Record<string, { path: string[]; as: 'string' | 'number' | 'boolean' | 'list' }> =
  {
    LOCKSTEP_KAFKA_BROKERS: { path: ['kafka', 'brokers'], as: 'list' },
    LOCKSTEP_KAFKA_CLIENT_ID: { path: ['kafka', 'clientId'], as: 'string' },
    LOCKSTEP_REGISTRY_URL: { path: ['registry', 'url'], as: 'string' },
    LOCKSTEP_POSTGRES_URL: { path: ['postgres', 'url'], as: 'string' },
    LOCKSTEP_TELEMETRY_ENABLED: { path: ['telemetry', 'enabled'], as: 'boolean' },
    LOCKSTEP_OTLP_HTTP_ENDPOINT: { path: ['telemetry', 'otlpHttpEndpoint'], as: 'string' },
    LOCKSTEP_SERVICE_NAME: { path: ['telemetry', 'serviceName'], as: 'string' },
    LOCKSTEP_HTTP_HOST: { path: ['http', 'host'], as: 'string' },
    LOCKSTEP_HTTP_PORT: { path: ['http', 'port'], as: 'number' },
    LOCKSTEP_LOG_LEVEL: { path: ['logLevel'], as: 'string' },
  };

function coerce(raw: string, as: 'string' | 'number' | 'boolean' | 'list'): unknown {
  switch (as) {
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    case 'number':
      return raw.trim() === '' ? raw : Number(raw); // NaN/strings fail validation with the path
    case 'boolean':
      return raw === 'true' ? true : raw === 'false' ? false : raw;
    default:
      return raw;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function applyEnv(doc: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  for (const [name, { path, as }] of Object.entries(ENV_OVERRIDES)) {
    const raw = env[name];
    if (raw === undefined) continue;
    let node = doc;
    for (const key of path.slice(0, -1)) {
      if (!isRecord(node[key])) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = coerce(raw, as);
  }
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/** Where the file is looked for when none is given: $LOCKSTEP_CONFIG, else ./lockstep.yaml if present. */
export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.LOCKSTEP_CONFIG) return env.LOCKSTEP_CONFIG;
  return existsSync('lockstep.yaml') ? 'lockstep.yaml' : undefined;
}

/**
 * Read, override from env, validate. A missing default file means "all defaults" (the dev stack);
 * a file named explicitly must exist. `{ env: NAME }` secrets are resolved from `env`.
 */
export function loadConfig(file?: string, env?: NodeJS.ProcessEnv): CoreConfig;
export function loadConfig<S extends z.ZodType>(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  schema: S,
): z.infer<S>;
export function loadConfig(
  file?: string,
  env: NodeJS.ProcessEnv = process.env,
  schema: z.ZodType = coreConfigSchema,
): unknown {
  const path = file ?? defaultConfigFile(env);
  const source = path ?? '(defaults)';
  let doc: unknown = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(source, [`(file): ${(err as Error).message}`]);
    }
    try {
      doc = parseYaml(text) ?? {};
    } catch (err) {
      const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
      throw new ConfigError(source, [`(yaml)${where}: ${(err as Error).message}`]);
    }
  }
  if (!isRecord(doc)) throw new ConfigError(source, ['(root): must be a mapping']);
  applyEnv(doc, env);
  const result = withSecretEnv(env, () => schema.safeParse(doc));
  if (!result.success) throw new ConfigError(source, formatIssues(result.error.issues));
  return result.data;
}
