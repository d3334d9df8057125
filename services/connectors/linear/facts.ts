/** What Lockstep knows about Linear besides the code that talks to it (types.ts PlatformFacts). */
import type { PlatformFacts } from '../types.ts';

export const linearFacts: PlatformFacts<'linear'> = {
  platform: 'linear',
  displayName: 'Linear',
  // 2,500 requests/h per API key: the lower of the figures Linear's docs give.
  rateLimit: { limit: 2500, perMs: 3_600_000 },
  secretHeaders: ['linear-signature'],
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
  sandbox: {
    port: 17101,
    endpointKey: 'apiUrl',
    // The emulator's demo tokens (test/emulators/linear demoSeed): they open nothing real.
    credentials: {
      LOCKSTEP_SANDBOX_LINEAR_API_KEY: 'lin_api_emulator_lockstep_bot',
      LOCKSTEP_SANDBOX_LINEAR_WEBHOOK_SECRET: 'sandbox-linear-webhook-secret',
    },
    webhookSecretEnv: 'LOCKSTEP_SANDBOX_LINEAR_WEBHOOK_SECRET',
    section: (apiUrl) => ({
      apiKey: { env: 'LOCKSTEP_SANDBOX_LINEAR_API_KEY' },
      webhookSecret: { env: 'LOCKSTEP_SANDBOX_LINEAR_WEBHOOK_SECRET' },
      apiUrl,
      teams: ['ENG'],
    }),
    side: { workspace: 'ENG', describe: 'Linear team ENG' },
  },
};
