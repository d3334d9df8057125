/**
 * What `lockstep demo` does as a person in the sandbox, through the official SDKs against the
 * EMULATORS: Alice creates an issue in the Linear emulator's team ENG, changes its priority and
 * comments on it; each check reads the Jira emulator's project ENG as Bob, as a person looking at
 * Jira would. Platform knowledge of the sandbox lives here, not in the CLI.
 */
import { LinearClient } from '@linear/sdk';
import { Version3Client } from 'jira.js';
import { LINEAR_DEMO_TOKENS } from './linear/index.ts';
import type { SandboxEndpoints } from './sandbox.ts';

export interface DemoStep {
  /** What the person does, e.g. "create an issue". */
  name: 'create' | 'edit' | 'comment';
  says: string;
  /** Which outcome shows it applied on the other side. */
  expect: { platform: string; entityType: 'issue' | 'comment'; action: 'create' | 'update' };
  /** Performs the action; resolves once the source platform answered. */
  act(): Promise<void>;
  /** True once the person on the other side sees it. */
  arrived(): Promise<boolean>;
  /** Where it arrived, for the printout (e.g. "Jira ENG-4"). */
  where(): Promise<string>;
}

export interface DemoScript {
  from: string;
  to: string;
  steps: DemoStep[];
}

export function demoScript(sandbox: SandboxEndpoints, tag: string): DemoScript {
  const linear = new LinearClient({ apiKey: LINEAR_DEMO_TOKENS.alice, apiUrl: sandbox.linear.apiUrl });
  const jira = new Version3Client({
    host: sandbox.jira.baseUrl,
    authentication: { basic: { email: 'bob@example.com', apiToken: 'sandbox-jira-token-bob' } },
  });
  const title = `Demo ${tag}: the export button does nothing`;
  const comment = `Demo ${tag}: reproduced on the staging build`;
  let linearId: string | undefined;
  let linearKey = '?';

  const jiraIssue = async () => {
    const r = await jira.issueSearch.searchForIssuesUsingJqlEnhancedSearch({
      jql: 'project = ENG ORDER BY created DESC',
      fields: ['summary', 'priority'],
      maxResults: 50,
    });
    return (r.issues ?? []).find((i) => i.fields.summary === title);
  };
  const jiraKey = async () => (await jiraIssue())?.key ?? '?';

  return {
    from: 'Linear (emulator, as Alice)',
    to: 'Jira (emulator, as Bob)',
    steps: [
      {
        name: 'create',
        says: `create issue "${title}" in team ENG`,
        expect: { platform: 'jira', entityType: 'issue', action: 'create' },
        async act() {
          const team = (await linear.teams({ filter: { key: { eq: 'ENG' } } })).nodes[0];
          if (!team) throw new Error('creating the demo issue: team ENG is not in the Linear emulator');
          const created = await linear.createIssue({ teamId: team.id, title, priority: 3 });
          const issue = await created.issue;
          if (!issue) throw new Error('creating the demo issue: Linear returned no issue');
          linearId = issue.id;
          linearKey = issue.identifier;
        },
        arrived: async () => (await jiraIssue()) !== undefined,
        where: async () => `Linear ${linearKey} → Jira ${await jiraKey()}`,
      },
      {
        name: 'edit',
        says: 'raise its priority to Urgent',
        expect: { platform: 'jira', entityType: 'issue', action: 'update' },
        async act() {
          if (!linearId) throw new Error('editing the demo issue: it was not created');
          await linear.updateIssue(linearId, { priority: 1 });
        },
        // Linear's Urgent is Jira's Highest in the sandbox's flow.
        arrived: async () => (await jiraIssue())?.fields.priority?.name === 'Highest',
        where: async () => `Jira ${await jiraKey()} priority Highest`,
      },
      {
        name: 'comment',
        says: `comment "${comment}"`,
        expect: { platform: 'jira', entityType: 'comment', action: 'create' },
        async act() {
          if (!linearId) throw new Error('commenting on the demo issue: it was not created');
          await linear.createComment({ issueId: linearId, body: comment });
        },
        async arrived() {
          const key = await jiraKey();
          if (key === '?') return false;
          const r = await jira.issueComments.getComments({ issueIdOrKey: key });
          return JSON.stringify(r.comments ?? []).includes(comment);
        },
        where: async () => `Jira ${await jiraKey()} comments`,
      },
    ],
  };
}
