import { z } from 'zod';
import { secret } from '../../core/config/index.ts';

const category = z.enum(['backlog', 'todo', 'in_progress', 'done', 'canceled']);
const priority = z.enum(['none', 'low', 'medium', 'high', 'urgent']);

/** `connectors.jira` in lockstep.yaml. Secrets by reference: `apiToken: { env: JIRA_API_TOKEN }`. */
export const jiraConfigSchema = z
  .object({
    /** https://<site>.atlassian.net (a path prefix is kept by jira.js). */
    host: z.url(),
    email: z.string().min(1),
    /** API token for basic auth (email:token). */
    apiToken: secret(),
    /** The admin webhook's `secret` (X-Hub-Signature). */
    webhookSecret: secret(),
    /** Project keys to poll and to accept changes from. */
    projects: z.array(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'must be a Jira project key')).min(1),
    /** Issue type for issues Lockstep creates. */
    issueType: z.string().min(1).default('Task'),
    /** Lockstep's Jira accountId; when null it is resolved at start through `myself`. */
    botAccountId: z.string().min(1).nullable().default(null),
    /**
     * Jira reads JQL dates in the API user's profile time zone; set this to that zone
     * (IANA name) so the poll's `updated >= "yyyy/MM/dd HH:mm"` means what we think it means.
     */
    jqlTimeZone: z.string().min(1).default('UTC'),
    pollSince: z.iso.datetime({ offset: true }).default('1970-01-01T00:00:00.000Z'),
    /** JQL is minute-precise; re-read this far back and drop what the seen-set already has. */
    pollOverlapMs: z.number().int().min(60_000).default(120_000),
    pageSize: z.number().int().min(1).max(100).default(50),
    /** Every API request is abandoned (and retried as a network error) after this long without an answer. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /** Jira priority name → canonical priority, and back (for writes). */
    priorities: z
      .object({
        fromJira: z
          .record(z.string(), priority)
          .default({ Highest: 'urgent', High: 'high', Medium: 'medium', Low: 'low', Lowest: 'low' }),
        toJira: z
          .record(priority, z.string().nullable())
          .default({ urgent: 'Highest', high: 'High', medium: 'Medium', low: 'Low', none: null }),
      })
      .strict()
      .prefault({}),
    /**
     * Status name → category, overriding the statusCategory (Jira has only new/indeterminate/done,
     * so "Backlog" or "Won't Do" need naming here to become backlog/canceled).
     */
    statusCategories: z.record(z.string(), category).default({}),
  })
  .strict();

export type JiraConfig = z.output<typeof jiraConfigSchema>;
