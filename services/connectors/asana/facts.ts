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
  // Priority (an enum custom field, a Premium feature) and labels (tags) are not carried yet: the
  // connector neither reads nor writes them (README: Limitations).
  capabilities: {
    issue: ['title', 'description', 'status', 'assignee', 'dueDate', 'url', 'createdAtMs', 'updatedAtMs'],
    comment: ['body', 'author', 'createdAtMs'],
  },
  // Not a side of the sandbox's demo flow yet: `lockstep sandbox` runs the emulator only.
  sandbox: { port: 17103, endpointKey: 'baseUrl' },
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
