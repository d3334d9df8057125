/**
 * The whole lockstep.yaml: core sections (kafka, registry, postgres, telemetry, http) plus
 * `connectors` (one optional section per platform in the registry), `flows`, and the settings of
 * ingest and egress. Validated once at start, every problem reported with its path.
 */
import { z } from 'zod';
import { defineConfigSchema, durationOrOffSchema, loadConfig } from '../core/config/index.ts';
import { createPeopleDirectory, peopleSchema, type PeopleDirectory } from '../core/people/index.ts';
import {
  bindConnector,
  CONNECTORS,
  defaultRateLimit,
  platformFacts,
  platformIndex,
  type Platform,
} from '../connectors/registry.ts';
import type { BoundConnector, FlowFacts } from '../connectors/types.ts';
import { flowSchema, statusNameOn } from '../reconciler/flow.ts';
import { adminConfigSchema } from '../admin/config.ts';

const platforms = Object.keys(CONNECTORS) as Platform[];

const connectorsSchema = z
  .object(Object.fromEntries(platforms.map((p) => [p, CONNECTORS[p].configSchema.optional()])))
  .strict()
  .prefault({});

const rateLimit = z
  .object({ limit: z.number().int().positive(), perMs: z.number().int().positive() })
  .strict();

export const appConfigSchema = defineConfigSchema({
  connectors: connectorsSchema,
  flows: z.array(flowSchema).default([]),
  /**
   * People overrides beside the email match (core/people): each a person with an optional email and
   * their user id per platform, for people a platform shows without an email or with another one.
   */
  people: peopleSchema(platforms),
  ingest: z
    .object({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(7070),
      /** Where platforms reach ingest (behind a proxy or tunnel); used when registering webhooks. */
      publicUrl: z.url().optional(),
      maxBodyBytes: z
        .number()
        .int()
        .positive()
        .default(1024 * 1024),
      /** 0 turns polling off (webhooks only). */
      pollIntervalMs: z.number().int().min(0).default(60_000),
      /**
       * How long a webhook waits for Kafka to acknowledge its events before answering 503: inside
       * the 5-10 s after which platforms give up on a delivery and retry it.
       */
      publishTimeoutMs: z.number().int().positive().default(4000),
    })
    .strict()
    .prefault({}),
  reconciler: z
    .object({
      port: z.number().int().min(0).max(65535).default(7071),
      /**
       * The scheduled audit (services/ops/verify-schedule.ts): how often the reconciler runs
       * `lockstep verify` in the background (`6h`, `30m`, …; parsed to milliseconds). Absent or `off`:
       * never (the default: verify reads every linked item on every platform, which an operator
       * should choose to spend requests on).
       */
      verifyEvery: durationOrOffSchema(1000).optional(),
      /** Whether the scheduled verify also repairs what it finds (as `verify --repair`); default: report only. */
      verifyRepair: z.boolean().default(false),
      /** The share of each platform's request budget the scheduled verify may use (live sync keeps the rest). */
      verifyShare: z.number().min(0.01).max(1).default(0.25),
      /** Whether the scheduled verify also scans each flow's scope for items with no link (reads every item). */
      verifyUnlinked: z.boolean().default(true),
    })
    .strict()
    .prefault({}),
  /** The status page, `lockstep admin` (services/admin/config.ts). */
  admin: adminConfigSchema,
  egress: z
    .object({
      /** First port of the egress processes; each platform takes the next, in registry order. */
      port: z.number().int().min(0).max(65535).default(7072),
      maxAttempts: z.number().int().min(1).max(20).default(6),
      backoffBaseMs: z.number().int().positive().default(500),
      backoffMaxMs: z.number().int().positive().default(60_000),
      breaker: z
        .object({
          failureThreshold: z.number().int().positive().default(5),
          openMs: z.number().int().positive().default(30_000),
        })
        .strict()
        .prefault({}),
      rateLimits: z.record(z.string(), rateLimit).default({}),
    })
    .strict()
    .prefault({}),
  /** The audit log of every write (services/egress/audit.ts), kept and pruned by each egress. */
  audit: z
    .object({
      /** Rows older than this are deleted from Postgres (the topic keeps `kafka.retentionMs.audit`). */
      retentionDays: z.number().positive().default(90),
      pruneIntervalMs: z
        .number()
        .int()
        .min(1000)
        .default(60 * 60 * 1000),
      /** How often egress looks for audit rows not yet on the topic when nothing woke it. */
      publishIdleMs: z.number().int().min(10).default(1000),
    })
    .strict()
    .prefault({}),
}).superRefine(
  (cfg, ctx) => {
    // Runs even when other sections are invalid (`when` below), so every problem is reported at
    // once — hence the defensive reads: any part of `cfg` may be malformed here.
    const flows: unknown[] = Array.isArray(cfg.flows) ? cfg.flows : [];
    const connectors = (cfg.connectors ?? {}) as Record<string, unknown>;
    flows.forEach((flow, i) => {
      const f = flow as { id?: unknown; sides?: unknown };
      const sides: unknown[] = Array.isArray(f.sides) ? f.sides : [];
      sides.forEach((side, j) => {
        const platform = (side as { platform?: unknown } | null)?.platform;
        if (typeof platform !== 'string') return;
        if (!platforms.includes(platform as Platform)) {
          ctx.addIssue({
            code: 'custom',
            path: ['flows', i, 'sides', j, 'platform'],
            message: `unknown platform ${platform} (known: ${platforms.join(', ')})`,
          });
        } else if (!connectors[platform]) {
          ctx.addIssue({
            code: 'custom',
            path: ['flows', i, 'sides', j, 'platform'],
            message: `connectors.${platform} is not configured`,
          });
        }
      });
    });
    const ids = flows.map((f) => (f as { id?: unknown }).id);
    ids.forEach((id, i) => {
      if (typeof id === 'string' && ids.indexOf(id) !== i)
        ctx.addIssue({ code: 'custom', path: ['flows', i, 'id'], message: `duplicate flow id ${id}` });
    });
  },
  { when: () => true },
);

export type AppConfig = z.infer<typeof appConfigSchema>;

export function loadAppConfig(file?: string, env: NodeJS.ProcessEnv = process.env): AppConfig {
  return loadConfig(file, env, appConfigSchema);
}

/** The `people:` overrides as a directory (core/people); email-only matching when the list is empty. */
export function peopleDirectory(config: AppConfig): PeopleDirectory {
  return createPeopleDirectory(config.people, platforms, { noEmail: (p) => platformFacts(p)?.noEmail });
}

/** The configured connectors, bound to their config sections and to what the flows say of them. */
export function boundConnectors(config: AppConfig): Map<string, BoundConnector> {
  const out = new Map<string, BoundConnector>();
  for (const p of platforms) {
    const section = (config.connectors as Record<string, unknown>)[p];
    if (section === undefined) continue;
    // `section` was parsed by CONNECTORS[p].configSchema above; TypeScript cannot tie the loop's
    // platform to its schema's output type, hence the one cast.
    out.set(p, bindConnector(p, section as never, flowFacts(config, p)));
  }
  return out;
}

/** The status names the flows with a side on `platform` give it (a connector may configure itself by them). */
function flowFacts(config: AppConfig, platform: string): FlowFacts {
  const statuses: FlowFacts['statuses'] = [];
  for (const flow of config.flows) {
    if (!flow.sides.some((s) => s.platform === platform)) continue;
    for (const entry of flow.statusMap)
      statuses.push({ name: statusNameOn(entry, platform), category: entry.category });
  }
  return { statuses };
}

/**
 * The request budget every HTTP request of a connector (egress, pollers) draws from before
 * response headers correct it: `egress.rateLimits.<platform>`, else the connector's published
 * limit (its facts), else 10/s.
 */
export function rateLimitFor(config: AppConfig, platform: string): { limit: number; perMs: number } {
  return config.egress.rateLimits[platform] ?? defaultRateLimit(platform) ?? { limit: 10, perMs: 1000 };
}

/** Egress of the platform at registry index i listens on `egress.port + i` (0: any free port). */
export function egressPort(config: AppConfig, platform: string): number {
  return config.egress.port === 0 ? 0 : config.egress.port + platformIndex(platform);
}
