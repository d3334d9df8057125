import { z } from 'zod';
import { secret } from '../../core/config/index.ts';

const category = z.enum(['backlog', 'todo', 'in_progress', 'done', 'canceled']);
const priority = z.enum(['none', 'low', 'medium', 'high', 'urgent']);

/**
 * Priority as an enum custom field (custom fields are an Asana Premium feature). `field` is the
 * field's gid or its name as the projects show it; `options` names the field's option for each
 * canonical priority (null, and `none` when not named: the field left empty; another priority not
 * named cannot be written). Reads invert it, and an empty field reads as none: an option no
 * priority names reads as no known priority. A flow's priorityMap translates before this.
 */
const prioritySchema = z
  .object({
    field: z.string().min(1),
    options: z
      .partialRecord(priority, z.string().min(1).nullable())
      .default({ urgent: 'Urgent', high: 'High', medium: 'Medium', low: 'Low', none: null }),
  })
  .strict()
  .superRefine((p, ctx) => {
    // Each option must read back as one priority.
    const seen = new Map<string, string>();
    for (const [name, option] of Object.entries(p.options)) {
      if (option === null || option === undefined) continue;
      const clash = seen.get(option.toLowerCase());
      if (clash !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['options', name],
          message: `option ${option} is already ${clash}'s: each priority needs its own option`,
        });
      seen.set(option.toLowerCase(), name);
    }
  });

/**
 * `connectors.asana` in lockstep.yaml. Secrets by reference: `accessToken: { env: ASANA_PAT }`.
 * A flow side's workspace is a project gid listed in `projects`.
 */
export const asanaConfigSchema = z
  .object({
    /** A personal access token (or an OAuth access token), sent as `Authorization: Bearer <token>`. */
    accessToken: secret(),
    /**
     * Signing secrets known ahead of time. Usually empty: Asana hands each webhook's secret over in
     * its `X-Hook-Secret` handshake, and ingest stores the secrets it learns (table webhook_secrets).
     */
    webhookSecrets: z.array(secret()).default([]),
    /** Override for tests and the sandbox. */
    baseUrl: z.url().default('https://app.asana.com/api/1.0'),
    /** Project gids to poll, to register webhooks for and to accept changes from. */
    projects: z.array(z.string().regex(/^\d+$/, 'must be an Asana project gid')).min(1),
    /**
     * Where a task's status comes from: `sections` (the task's section in the project, named in
     * the flow's status map; a status change moves the task between sections, and a done or
     * canceled status also completes it) or `completed` (Asana's completed flag only: done or todo).
     */
    statusFrom: z.enum(['sections', 'completed']).default('sections'),
    /**
     * Section name → category, for sections the flows' status maps do not name. A section nobody
     * names reads as todo (done when the task is completed).
     */
    statusCategories: z.record(z.string(), category).default({}),
    /** Lockstep's Asana user gid; when null it is resolved at start through `GET /users/me`. */
    botUserId: z.string().min(1).nullable().default(null),
    /** Where a first full read starts (ISO-8601, `modified_since`). */
    pollSince: z.iso.datetime({ offset: true }).default('1970-01-01T00:00:00.000Z'),
    /** Tasks per page of a full read (Asana: 1–100). */
    pageSize: z.number().int().min(1).max(100).default(50),
    /** Every API request is abandoned (and retried as a network error) after this long without an answer. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /** Asana's concurrency limits per token: 50 reads and 15 writes in flight. */
    maxConcurrentReads: z.number().int().min(1).max(50).default(50),
    maxConcurrentWrites: z.number().int().min(1).max(15).default(15),
    /**
     * Priority from an enum custom field (Premium). Absent: priority is not part of the Asana side
     * (neither read nor written), and ingest and egress say so once at start.
     */
    priority: prioritySchema.optional(),
  })
  .strict();

export type AsanaConfig = z.output<typeof asanaConfigSchema>;
