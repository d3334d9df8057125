/**
 * What `lockstep demo` does as people in the sandbox, through the official SDKs against the
 * EMULATORS: Alice creates an issue in the Linear emulator's team ENG, changes its priority and
 * comments on it; then Carol moves the task it became in the Asana emulator's project to In
 * progress. Each check reads the other sides as a person looking at them would: the Jira
 * emulator's project ENG as Bob, the Asana project as Carol, Linear as Alice, and the Slack
 * emulator's channel #eng-sync as Alice (the item's card, and the comment in the card's thread).
 * Platform knowledge of the sandbox lives here, not in the CLI.
 */
import { LinearClient } from '@linear/sdk';
import Asana from 'asana';
import { WebClient } from '@slack/web-api';
import { Version3Client } from 'jira.js';
import { DEMO_TOKENS as ASANA_DEMO_TOKENS, demoSeed as asanaDemoSeed } from './asana/index.ts';
import { LINEAR_DEMO_TOKENS } from './linear/index.ts';
import { DEMO_TOKENS as SLACK_DEMO_TOKENS } from './slack/index.ts';
import type { SandboxEndpoints } from './sandbox.ts';

/** A write on another side that shows a step applied there (a WriteOutcome of egress). */
export interface DemoExpectation {
  platform: string;
  /** `message` is a Slack card. */
  entityType: 'issue' | 'comment' | 'message';
  action: 'create' | 'update';
}

export interface DemoStep {
  /** What the person does, e.g. "create an issue". */
  name: 'create' | 'edit' | 'comment' | 'move';
  /** Where the person acts and where it should arrive, for the printout. */
  from: string;
  to: string;
  says: string;
  /** The outcomes that show it applied on the other sides, one per side it reaches. */
  expect: DemoExpectation[];
  /** Performs the action; resolves once the source platform answered. */
  act(): Promise<void>;
  /** True once the people on the other sides see it. */
  arrived(): Promise<boolean>;
  /** Where it arrived, for the printout (e.g. "Jira ENG-4, Asana task 1100…"). */
  where(): Promise<string>;
}

export interface DemoScript {
  /** Who acts where and who watches, for the printout. */
  cast: string;
  steps: DemoStep[];
}

/** The Slack emulator's #eng-sync (the sandbox flow's card channel). */
const SLACK_CHANNEL = 'C0ENGSYNC1';

interface SlackMessageView {
  ts: string;
  text: string;
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}

/** The demo project of the Asana emulator (the sandbox flow's Asana side). */
const ASANA_PROJECT = asanaDemoSeed().projects[0]!.gid;

function asanaAs(baseUrl: string, token: string) {
  const client = new Asana.ApiClient();
  client.basePath = baseUrl;
  client.authentications['token'].accessToken = token;
  return {
    tasks: new Asana.TasksApi(client),
    stories: new Asana.StoriesApi(client),
    sections: new Asana.SectionsApi(client),
  };
}

interface AsanaTaskView {
  gid: string;
  name: string;
  memberships: { section?: { name: string } | null }[];
}

export function demoScript(sandbox: SandboxEndpoints, tag: string): DemoScript {
  const linear = new LinearClient({ apiKey: LINEAR_DEMO_TOKENS.alice, apiUrl: sandbox.linear.apiUrl });
  const jira = new Version3Client({
    host: sandbox.jira.baseUrl,
    authentication: { basic: { email: 'bob@example.com', apiToken: 'sandbox-jira-token-bob' } },
  });
  const asana = asanaAs(sandbox.asana.baseUrl, ASANA_DEMO_TOKENS.carol);
  const slack = new WebClient(SLACK_DEMO_TOKENS.alice, {
    slackApiUrl: sandbox.slack.apiUrl,
    retryConfig: { retries: 0 },
  });
  const title = `Demo ${tag}: the export button does nothing`;
  const comment = `Demo ${tag}: reproduced on the staging build`;
  let linearId: string | undefined;
  let linearKey = '?';

  const jiraIssue = async () => {
    const r = await jira.issueSearch.searchForIssuesUsingJqlEnhancedSearch({
      jql: 'project = ENG ORDER BY created DESC',
      fields: ['summary', 'priority', 'status'],
      maxResults: 50,
    });
    return (r.issues ?? []).find((i) => i.fields.summary === title);
  };
  const jiraKey = async () => (await jiraIssue())?.key ?? '?';
  const asanaTask = async (): Promise<AsanaTaskView | undefined> => {
    // The SDK types the answer as any: it is the body, `{ data: [...] }`.
    const r: { data: AsanaTaskView[] } = await asana.tasks.getTasksForProject(ASANA_PROJECT, {
      opt_fields: 'name,memberships.section.name',
    });
    return r.data.find((t) => t.name === title);
  };
  const asanaGid = async () => (await asanaTask())?.gid ?? '?';
  /** The item's card in #eng-sync (its fields are in the card's metadata). */
  const slackCard = async (): Promise<SlackMessageView | undefined> => {
    const r = await slack.conversations.history({
      channel: SLACK_CHANNEL,
      limit: 100,
      include_all_metadata: true,
    });
    return ((r.messages ?? []) as SlackMessageView[]).find(
      (m) => m.metadata?.event_type === 'lockstep_card' && m.metadata.event_payload['title'] === title,
    );
  };
  const cardField = async (field: string) => (await slackCard())?.metadata?.event_payload[field];
  const linearState = async () => {
    if (!linearId) return undefined;
    return (await (await linear.issue(linearId)).state)?.name;
  };

  return {
    cast: 'Alice acts in Linear and Carol in Asana (emulators); Bob watches Jira, Alice the Slack card',
    steps: [
      {
        name: 'create',
        from: 'Linear',
        to: 'Jira, Asana and Slack',
        says: `in Linear, create issue "${title}" in team ENG`,
        expect: [
          { platform: 'jira', entityType: 'issue', action: 'create' },
          { platform: 'asana', entityType: 'issue', action: 'create' },
          { platform: 'slack', entityType: 'message', action: 'create' },
        ],
        async act() {
          const team = (await linear.teams({ filter: { key: { eq: 'ENG' } } })).nodes[0];
          if (!team) throw new Error('creating the demo issue: team ENG is not in the Linear emulator');
          const created = await linear.createIssue({ teamId: team.id, title, priority: 3 });
          const issue = await created.issue;
          if (!issue) throw new Error('creating the demo issue: Linear returned no issue');
          linearId = issue.id;
          linearKey = issue.identifier;
        },
        arrived: async () =>
          (await jiraIssue()) !== undefined &&
          (await asanaTask()) !== undefined &&
          (await slackCard()) !== undefined,
        where: async () =>
          `Linear ${linearKey} → Jira ${await jiraKey()}, Asana task ${await asanaGid()}, a card in Slack #eng-sync`,
      },
      {
        name: 'edit',
        from: 'Linear',
        to: 'Jira and Slack',
        says: 'in Linear, raise its priority to Urgent',
        // The sandbox's Asana project has no priority custom field (connectors.asana.priority is not
        // set there), so priority is not synced with Asana: Jira and the Slack card.
        expect: [
          { platform: 'jira', entityType: 'issue', action: 'update' },
          { platform: 'slack', entityType: 'message', action: 'update' },
        ],
        async act() {
          if (!linearId) throw new Error('editing the demo issue: it was not created');
          await linear.updateIssue(linearId, { priority: 1 });
        },
        // Linear's Urgent is Jira's Highest in the sandbox's flow.
        arrived: async () =>
          (await jiraIssue())?.fields.priority?.name === 'Highest' &&
          (await cardField('priority')) === 'urgent',
        where: async () => `Jira ${await jiraKey()} priority Highest, the Slack card Urgent`,
      },
      {
        name: 'comment',
        from: 'Linear',
        to: 'Jira, Asana and Slack',
        says: `in Linear, comment "${comment}"`,
        expect: [
          { platform: 'jira', entityType: 'comment', action: 'create' },
          { platform: 'asana', entityType: 'comment', action: 'create' },
          { platform: 'slack', entityType: 'comment', action: 'create' },
        ],
        async act() {
          if (!linearId) throw new Error('commenting on the demo issue: it was not created');
          await linear.createComment({ issueId: linearId, body: comment });
        },
        async arrived() {
          const key = await jiraKey();
          const gid = await asanaGid();
          if (key === '?' || gid === '?') return false;
          const r = await jira.issueComments.getComments({ issueIdOrKey: key });
          if (!JSON.stringify(r.comments ?? []).includes(comment)) return false;
          const stories: { data: { type: string; text: string }[] } = await asana.stories.getStoriesForTask(
            gid,
            { opt_fields: 'type,text' },
          );
          if (!stories.data.some((s) => s.type === 'comment' && s.text.includes(comment))) return false;
          const card = await slackCard();
          if (!card) return false;
          const replies = await slack.conversations.replies({ channel: SLACK_CHANNEL, ts: card.ts });
          return (replies.messages ?? []).some((m) => m.ts !== card.ts && (m.text ?? '').includes(comment));
        },
        where: async () =>
          `Jira ${await jiraKey()} comments, Asana task ${await asanaGid()} comments, the Slack card's thread`,
      },
      {
        name: 'move',
        from: 'Asana',
        to: 'Linear, Jira and Slack',
        says: 'in Asana, move the task to the section In progress',
        expect: [
          { platform: 'linear', entityType: 'issue', action: 'update' },
          { platform: 'jira', entityType: 'issue', action: 'update' },
          { platform: 'slack', entityType: 'message', action: 'update' },
        ],
        async act() {
          const gid = await asanaGid();
          if (gid === '?') throw new Error('moving the demo task: it is not in the Asana project');
          const sections: { data: { gid: string; name: string }[] } =
            await asana.sections.getSectionsForProject(ASANA_PROJECT, {});
          const section = sections.data.find((s) => s.name === 'In progress');
          if (!section) throw new Error('moving the demo task: the Asana project has no section In progress');
          await asana.sections.addTaskForSection(section.gid, { body: { data: { task: gid } } });
        },
        // The sandbox flow's In Progress is "In progress" in Asana, "In Progress" in Linear and Jira.
        arrived: async () =>
          (await linearState()) === 'In Progress' &&
          (await jiraIssue())?.fields.status?.name === 'In Progress' &&
          (await cardField('status_category')) === 'in_progress',
        where: async () => `Linear ${linearKey}, Jira ${await jiraKey()} and the Slack card In Progress`,
      },
    ],
  };
}
