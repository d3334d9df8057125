/**
 * The whole lockstep.yaml: core sections (kafka, registry, postgres, telemetry, http) plus
 * `connectors` (one optional section per platform in the registry), `flows`, and the settings of
 * ingest and egress. Validated once at start, every problem reported with its path.
 */
import { z } from 'zod';
import { defineConfigSchema, loadConfig } from '../core/config/index.ts';
import { CONNECTORS, type Platform } from '../connectors/registry.ts';
import type { BoundConnector } from '../connectors/types.ts';
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

/**
 * Published limits (PLATFORMS.md), the budget every HTTP request of a connector (egress, pollers)
 * draws from before response headers correct it. Linear: 2,500 requests/h per API key (the lower
 * of the figures its docs give). Jira: burst limits of 100 GET/POST and 50 PUT/DELETE per second
 * per tenant — the lower one, since the budget counts every request, reads too (the 20 writes per
 * issue per 2 s are per issue, which one budget cannot express; a 429 for it carries Retry-After).
 * Asana: 1,500/min on paid plans (150 free). Slack: chat.postMessage ~1/s per channel.
 */
const DEFAULT_RATE_LIMITS: Record<string, { limit: number; perMs: number }> = {
  linear: { limit: 2500, perMs: 3_600_000 },
  jira: { limit: 50, perMs: 1000 },
  asana: { limit: 1500, perMs: 60_000 },
  slack: { limit: 1, perMs: 1000 },
};

export const appConfigSchema = defineConfigSchema({
  connectors: connectorsSchema,
  flows: z.array(flowSchema).default([]),
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
    .object({ port: z.number().int().min(0).max(65535).default(7071) })
    .strict()
    .prefault({}),
  /** The status page, `lockstep admin` (services/admin/config.ts). */
  admin: adminConfigSchema,
  egress: z
    .object({
      /** First port of the egress processes; each platform takes the next (linear, jira, asana, slack). */
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

/** The configured connectors, bound to their config sections. */
export function boundConnectors(config: AppConfig): Map<string, BoundConnector> {
  const out = new Map<string, BoundConnector>();
  for (const p of platforms) {
    const section = (config.connectors as Record<string, unknown>)[p];
    if (section === undefined) continue;
    // `section` was parsed by CONNECTORS[p].configSchema above; TypeScript cannot tie the loop's
    // platform to its schema's output type, hence the one cast.
    out.set(
      p,
      CONNECTORS[p].bind((p === 'jira' ? withFlowStatusCategories(config, section) : section) as never),
    );
  }
  return out;
}

/**
 * Jira has three status categories (new/indeterminate/done), so a Canceled or Backlog status reads
 * as todo/done unless named. A flow's statusMap already names the Jira status of each category
 * (`{ name: Canceled, category: canceled, jira: Canceled }`): those names count as
 * `connectors.jira.statusCategories`, under any the section names itself. Without this the egress
 * finds no transition to a "canceled" status and normalize reports Canceled as done.
 */
function withFlowStatusCategories(config: AppConfig, section: unknown): unknown {
  const jira = section as { statusCategories?: Record<string, string> };
  const fromFlows: Record<string, string> = {};
  for (const flow of config.flows) {
    if (!flow.sides.some((s) => s.platform === 'jira')) continue;
    for (const entry of flow.statusMap) fromFlows[statusNameOn(entry, 'jira')] ??= entry.category;
  }
  return { ...jira, statusCategories: { ...fromFlows, ...jira.statusCategories } };
}

export function rateLimitFor(config: AppConfig, platform: string): { limit: number; perMs: number } {
  return config.egress.rateLimits[platform] ?? DEFAULT_RATE_LIMITS[platform] ?? { limit: 10, perMs: 1000 };
}

export function egressPort(config: AppConfig, platform: string): number {
  const i = ['linear', 'jira', 'asana', 'slack'].indexOf(platform);
  return config.egress.port === 0 ? 0 : config.egress.port + Math.max(0, i);
}
