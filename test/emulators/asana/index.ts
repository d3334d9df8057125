/**
 * Asana emulator for tests and the `lockstep up --sandbox` demo. Emulated data, never Asana's:
 * every name below is a sandbox fixture.
 */
import { startEmulator, type RunningEmulator } from '../common/server.ts';
import { AsanaEmulator, ASANA_BASE_PATH } from './emulator.ts';
import type { AsanaSeed } from './model.ts';

export { AsanaEmulator, ASANA_BASE_PATH } from './emulator.ts';
export { AsanaControl } from './control.ts';
export { PRIORITY_FIELD, withPriorityField } from './custom-fields.ts';
export type { AsanaSeed, AsanaSeedCustomField, AsanaSeedUser } from './model.ts';

export function createAsanaEmulator(): AsanaEmulator {
  return new AsanaEmulator();
}

/** Starts the emulator on 127.0.0.1; the SDK's basePath is `${url}/api/1.0`. */
export function startAsanaEmulator(
  opts: { port?: number; webhookTimeScale?: number; seed?: AsanaSeed } = {},
): Promise<RunningEmulator & { apiUrl: string }> {
  const platform = createAsanaEmulator();
  return startEmulator(platform, opts).then((running) => {
    if (opts.seed) platform.seed(opts.seed, running.kit);
    return { ...running, apiUrl: `${running.url}${ASANA_BASE_PATH}` };
  });
}

/** Tokens of the demo seed: the bot's is the one Lockstep is configured with. */
export const DEMO_TOKENS = {
  bot: 'asana-sandbox-bot-token',
  alice: 'asana-sandbox-alice-token',
  bob: 'asana-sandbox-bob-token',
  carol: 'asana-sandbox-carol-token',
} as const;

/** Sandbox demo data: one workspace, a project with status-like sections, the shared people. */
export function demoSeed(): AsanaSeed &
  Required<Pick<AsanaSeed, 'workspaces' | 'users' | 'projects' | 'tasks'>> {
  return {
    workspaces: [{ gid: '1100000000000001', name: 'Example Workspace (sandbox)' }],
    users: [
      {
        gid: '1100000000000010',
        name: 'Lockstep Bot',
        email: 'lockstep-bot@example.com',
        tokens: [DEMO_TOKENS.bot],
        bot: true,
      },
      {
        gid: '1100000000000011',
        name: 'Alice Example',
        email: 'alice@example.com',
        tokens: [DEMO_TOKENS.alice],
      },
      { gid: '1100000000000012', name: 'Bob Example', email: 'bob@example.com', tokens: [DEMO_TOKENS.bob] },
      {
        gid: '1100000000000013',
        name: 'Carol Example',
        email: 'carol@example.com',
        tokens: [DEMO_TOKENS.carol],
      },
    ],
    projects: [
      {
        gid: '1100000000000100',
        name: 'Engineering (sandbox)',
        workspace: '1100000000000001',
        sections: [
          { gid: '1100000000000101', name: 'Backlog' },
          { gid: '1100000000000102', name: 'To do' },
          { gid: '1100000000000103', name: 'In progress' },
          { gid: '1100000000000104', name: 'Done' },
        ],
      },
    ],
    tags: [{ gid: '1100000000000200', name: 'customer', workspace: '1100000000000001' }],
    tasks: [
      {
        gid: '1100000000001001',
        name: 'Write the onboarding guide',
        notes: 'Cover install, first flow and troubleshooting.',
        memberships: [{ project: '1100000000000100', section: '1100000000000102' }],
        assignee: '1100000000000011',
        due_on: '2030-01-15',
        created_by: '1100000000000011',
      },
      {
        gid: '1100000000001002',
        name: 'Fix login redirect loop',
        notes: 'Reported by two customers.',
        memberships: [{ project: '1100000000000100', section: '1100000000000103' }],
        assignee: '1100000000000012',
        tags: ['1100000000000200'],
        created_by: '1100000000000013',
      },
    ],
    stories: [
      {
        gid: '1100000000002001',
        task: '1100000000001002',
        text: 'I can reproduce it on Safari.',
        created_by: '1100000000000013',
      },
    ],
  };
}
