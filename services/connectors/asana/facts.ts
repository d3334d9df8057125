/** What Lockstep knows about Asana besides the code that talks to it (types.ts PlatformFacts). */
import type { FlowFacts, PlatformFacts } from '../types.ts';
import type { AsanaConfig } from './config.ts';

export const asanaFacts: PlatformFacts<'asana'> = {
  platform: 'asana',
  displayName: 'Asana',
  // 1,500 requests a minute on paid plans (150 on the free plan: set egress.rateLimits.asana).
  rateLimit: { limit: 1500, perMs: 60_000 },
  // X-Hook-Secret is the secret itself during the webhook handshake.
  secretHeaders: ['x-hook-signature', 'x-hook-secret'],
  // Labels are the task's tags, by name. Priority is an enum custom field (a Premium feature),
  // held only with connectors.asana.priority set: without it normalize never reports it (not in
  // `known`) and apply never writes it, which is what keeps the reconciler right, as it goes by
  // `known`, not by these capabilities (README: Limitations).
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
    comment: ['body', 'author', 'createdAtMs'],
  },
  sandbox: {
    port: 17103,
    endpointKey: 'baseUrl',
    // The emulator's demo bot token (test/emulators/asana DEMO_TOKENS.bot): it opens nothing real.
    // No webhook secret: the emulator, like Asana, hands it over in the registration's handshake.
    credentials: { LOCKSTEP_SANDBOX_ASANA_ACCESS_TOKEN: 'asana-sandbox-bot-token' },
    section: (baseUrl) => ({
      accessToken: { env: 'LOCKSTEP_SANDBOX_ASANA_ACCESS_TOKEN' },
      baseUrl,
      projects: ['1100000000000100'],
    }),
    side: { workspace: '1100000000000100', describe: 'Asana project Engineering (sandbox)' },
    // The demo project's sections are Backlog / To do / In progress / Done: no Canceled section,
    // so a task canceled elsewhere stays in its section and egress reports the status as
    // unresolvable there.
    statusNames: { Todo: 'To do', 'In Progress': 'In progress' },
  },
};

/**
 * A flow's status map names the Asana section of each status (`{ name: In Progress, category:
 * in_progress, asana: In progress }`): those names count as `statusCategories`, under any the
 * section names itself. A section nobody names reads as todo (done once the task is completed).
 */
export function withFlowStatusCategories(config: AsanaConfig, flows: FlowFacts): AsanaConfig {
  const fromFlows: AsanaConfig['statusCategories'] = {};
  for (const s of flows.statuses) fromFlows[s.name] ??= s.category;
  return { ...config, statusCategories: { ...fromFlows, ...config.statusCategories } };
}
