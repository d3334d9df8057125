/** What Lockstep knows about Jira Cloud besides the code that talks to it (types.ts PlatformFacts). */
import type { FlowFacts, PlatformFacts } from '../types.ts';
import type { JiraConfig } from './config.ts';

export const jiraFacts: PlatformFacts<'jira'> = {
  platform: 'jira',
  displayName: 'Jira Cloud',
  // Burst limits of 100 GET/POST and 50 PUT/DELETE per second per tenant: the lower one, since the
  // budget counts every request, reads too (the 20 writes per issue per 2 s are per issue, which
  // one budget cannot express; a 429 for it carries Retry-After).
  rateLimit: { limit: 50, perMs: 1000 },
  secretHeaders: ['x-hub-signature'],
  capabilities: {
    issue: [
      'title',
      'description',
      'status',
      'priority',
      'assignee',
      'labels',
      'dueDate',
      'url',
      'createdAtMs',
      'updatedAtMs',
    ],
    comment: ['body', 'author', 'url', 'createdAtMs', 'updatedAtMs'],
  },
  // Profile visibility: Jira Cloud returns `emailAddress` only when the user's profile lets the
  // caller see it ("Depending on the user's privacy setting, this may be returned as null", v3 spec).
  // Lockstep sees only that it is missing, not the setting, hence "most likely".
  noEmail:
    "Jira Cloud shows a user's email only when their profile visibility allows it; theirs is most likely hidden by their Jira privacy settings",
  sandbox: {
    port: 17102,
    endpointKey: 'baseUrl',
    // The emulator's demo tokens (test/emulators/jira demoSeed): they open nothing real.
    credentials: {
      LOCKSTEP_SANDBOX_JIRA_API_TOKEN: 'sandbox-jira-token-lockstep-bot',
      LOCKSTEP_SANDBOX_JIRA_WEBHOOK_SECRET: 'sandbox-jira-webhook-secret',
    },
    webhookSecretEnv: 'LOCKSTEP_SANDBOX_JIRA_WEBHOOK_SECRET',
    section: (host) => ({
      host,
      email: 'lockstep-bot@example.com',
      apiToken: { env: 'LOCKSTEP_SANDBOX_JIRA_API_TOKEN' },
      webhookSecret: { env: 'LOCKSTEP_SANDBOX_JIRA_WEBHOOK_SECRET' },
      projects: ['ENG'],
    }),
    side: { workspace: 'ENG', describe: 'Jira project ENG' },
    // The emulator's workflow has no Backlog status: an item moved to Backlog elsewhere stays
    // where it is in Jira, and egress reports the status as unresolvable there.
    statusNames: { Todo: 'To Do', Canceled: 'Canceled' },
  },
};

/**
 * Jira has three status categories (new/indeterminate/done), so a Canceled or Backlog status reads
 * as todo/done unless named. A flow's statusMap already names the Jira status of each category
 * (`{ name: Canceled, category: canceled, jira: Canceled }`): those names count as
 * `statusCategories`, under any the section names itself. Without this the egress finds no
 * transition to a "canceled" status and normalize reports Canceled as done.
 */
export function withFlowStatusCategories(config: JiraConfig, flows: FlowFacts): JiraConfig {
  const fromFlows: JiraConfig['statusCategories'] = {};
  for (const s of flows.statuses) fromFlows[s.name] ??= s.category;
  return { ...config, statusCategories: { ...fromFlows, ...config.statusCategories } };
}
