/**
 * Jira Cloud emulator: test infrastructure and the labelled sandbox behind `lockstep up --sandbox`.
 * Nothing here is the real Jira; see README.md for what it covers and where it differs.
 */
import { startEmulator, type RunningEmulator } from '../common/server.ts';
import { JiraEmulator, type JiraSeed } from './emulator.ts';

export {
  JiraEmulator,
  JIRA_RETRY_POLICY,
  DEFAULT_SEARCH_LAG_MS,
  type AfterApplyFault,
  type JiraSeed,
  type JiraUserSeed,
  type JiraIssueSeed,
} from './emulator.ts';

export function createJiraEmulator(opts: { searchLagMs?: number } = {}): JiraEmulator {
  return new JiraEmulator(opts);
}

/** Starts the emulator on 127.0.0.1; seed with `startJiraEmulator({ seed: demoSeed() })` or the control API. */
export async function startJiraEmulator(
  opts: { port?: number; webhookTimeScale?: number; seed?: JiraSeed; searchLagMs?: number } = {},
): Promise<RunningEmulator & { jira: JiraEmulator }> {
  const platform = createJiraEmulator({ searchLagMs: opts.searchLagMs });
  const running = await startEmulator(platform, { port: opts.port, webhookTimeScale: opts.webhookTimeScale });
  if (opts.seed) platform.seed(opts.seed, running.kit);
  return { ...running, jira: platform };
}

/** The API token the sandbox configures Lockstep with (the bot account's). */
export const DEMO_BOT_TOKEN = 'sandbox-jira-token-lockstep-bot';

/**
 * Sandbox demo data: the people shared by email across the four emulators, the Lockstep bot, one
 * project (key ENG, the demo flow's Jira side) and a few issues. Every value is made up and labelled as sandbox data.
 */
export function demoSeed(): JiraSeed {
  return {
    users: [
      {
        accountId: '712020:sandbox-lockstep-bot',
        displayName: 'Lockstep (sandbox bot)',
        email: 'lockstep-bot@example.com',
        tokens: [DEMO_BOT_TOKEN],
        bot: true,
      },
      {
        accountId: '712020:sandbox-alice',
        displayName: 'Alice Example',
        email: 'alice@example.com',
        tokens: ['sandbox-jira-token-alice'],
      },
      {
        accountId: '712020:sandbox-bob',
        displayName: 'Bob Example',
        email: 'bob@example.com',
        tokens: ['sandbox-jira-token-bob'],
      },
      {
        accountId: '712020:sandbox-carol',
        displayName: 'Carol Example',
        email: 'carol@example.com',
        tokens: ['sandbox-jira-token-carol'],
      },
    ],
    projects: [{ key: 'ENG', name: 'Engineering (sandbox)', id: '10000', lead: '712020:sandbox-alice' }],
    issues: [
      {
        project: 'ENG',
        summary: 'Sandbox: set up the release checklist',
        description: adf('Sandbox data from the Jira emulator.'),
        reporter: '712020:sandbox-alice',
        assignee: '712020:sandbox-bob',
        priority: 'High',
        labels: ['sandbox'],
      },
      {
        project: 'ENG',
        summary: 'Sandbox: fix the login redirect',
        issuetype: 'Bug',
        status: 'In Progress',
        reporter: '712020:sandbox-carol',
        assignee: '712020:sandbox-carol',
        labels: ['sandbox'],
      },
      {
        project: 'ENG',
        summary: 'Sandbox: write the onboarding guide',
        status: 'Done',
        reporter: '712020:sandbox-bob',
        labels: ['sandbox'],
      },
    ],
  };
}

/** A one-paragraph ADF document. */
export function adf(text: string): { type: 'doc'; version: 1; content: unknown[] } {
  return { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] };
}
