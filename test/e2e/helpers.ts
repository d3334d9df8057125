/** Platform look-ups the end-to-end tests share, through the official SDKs (as people, not the bot). */
import type { BackfillReport } from '../../services/cli/commands/backfill.ts';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { LinearClient } from '@linear/sdk';
import type { Version3Client } from 'jira.js';
import type { LedgerEntry } from '../emulators/common/ledger.ts';
import type { E2E } from './harness.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `lockstep <args> -c <the world's config>` as an operator would, to its end. Resolves with
 * the exit code and both streams; rejects only when the process could not run (or outlived
 * `timeoutMs`, a generous bound: the command then did not finish).
 */
export function lockstep(
  e: E2E,
  args: string[],
  opts: { timeoutMs?: number; maxBuffer?: number } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin', 'lockstep.mjs'), ...args, '-c', e.pipeline.configFile],
      { cwd: ROOT, timeout: opts.timeoutMs ?? 120_000, maxBuffer: opts.maxBuffer ?? 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number')
          return reject(new Error(`lockstep ${args.join(' ')} did not finish: ${err.message}\n${stderr}`));
        resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      },
    );
  });
}

export async function linearIds(client: LinearClient) {
  const team = (await client.teams({ filter: { key: { eq: 'ENG' } } })).nodes[0];
  if (!team) throw new Error('looking up team ENG: not in the Linear emulator');
  const states = (await team.states()).nodes;
  const state = (name: string) => {
    const s = states.find((x) => x.name === name);
    if (!s) throw new Error(`looking up Linear state ${name}`);
    return s.id;
  };
  const labels = (await client.issueLabels()).nodes;
  const label = (name: string) => {
    const l = labels.find((x) => x.name === name);
    if (!l) throw new Error(`looking up Linear label ${name}`);
    return l.id;
  };
  const user = async (email: string) => {
    const u = (await client.users({ filter: { email: { eq: email } } })).nodes[0];
    if (!u) throw new Error(`looking up Linear user ${email}`);
    return u.id;
  };
  return { teamId: team.id, state, label, user };
}

export async function jiraAccountId(client: Version3Client, email: string): Promise<string> {
  const users = await client.userSearch.findUsers({ query: email });
  const id = users[0]?.accountId;
  if (!id) throw new Error(`looking up Jira user ${email}`);
  return id;
}

/** Jira issues of project ENG, with the fields Lockstep syncs. */
/**
 * One Jira issue read by key (GET /rest/api/3/issue/{key}): consistent right after a write, unlike
 * search, which lags writes on the emulator (`searchLagMs`) as on Jira Cloud. Read a known issue
 * this way after an edit; search is for finding issues.
 */
export async function jiraIssue(client: Version3Client, key: string) {
  return client.issues.getIssue({
    issueIdOrKey: key,
    fields: ['summary', 'description', 'status', 'priority', 'assignee', 'labels', 'updated'],
  });
}

/** Every issue of project ENG through search, page by page: lags writes (see `jiraIssue`). */
export async function jiraIssues(client: Version3Client) {
  const out = [];
  let nextPageToken: string | undefined;
  for (;;) {
    const r = await client.issueSearch.searchForIssuesUsingJqlEnhancedSearch({
      jql: 'project = ENG ORDER BY created ASC',
      fields: ['summary', 'description', 'status', 'priority', 'assignee', 'labels', 'updated'],
      maxResults: 100,
      ...(nextPageToken && { nextPageToken }),
    });
    out.push(...(r.issues ?? []));
    if (!r.nextPageToken) return out;
    nextPageToken = r.nextPageToken;
  }
}

export type RawIssue = {
  id: string;
  identifier: string;
  title: string;
  description: string | null;
  priority: number;
  state: { name: string };
  assignee: { email: string } | null;
  labels: { nodes: { name: string }[] };
};

/** Linear issues of team ENG with their synced fields, in one query. */
export async function linearIssues(client: LinearClient): Promise<RawIssue[]> {
  const out: RawIssue[] = [];
  let after: string | null = null;
  for (;;) {
    const r: {
      data?: { issues: { nodes: RawIssue[]; pageInfo: { hasNextPage: boolean; endCursor: string } } };
    } = await client.client.rawRequest(
      `query E2EIssues($after: String) { issues(first: 100, after: $after) { nodes { id identifier title description priority state { name } assignee { email } labels { nodes { name } } } pageInfo { hasNextPage endCursor } } }`,
      { after },
    );
    out.push(...(r.data?.issues.nodes ?? []));
    if (!r.data?.issues.pageInfo.hasNextPage) return out;
    after = r.data.issues.pageInfo.endCursor;
  }
}

/** A backfill report's writes as `platform:targetKey:fields`, sorted (to compare runs). */
export const backfillWriteSet = (r: BackfillReport): string[] =>
  r.paired.flatMap((p) => p.writes.map((w) => `${w.platform}:${w.targetKey}:${w.fields.join('+')}`)).sort();

export type E2EPlatform = 'linear' | 'jira' | 'asana' | 'slack';

function emulatorOf(e: E2E, platform: E2EPlatform) {
  const emu = e.emulators.find(([p]) => p === platform)?.[1];
  if (!emu) throw new Error(`this world has no ${platform} emulator`);
  return emu;
}

/**
 * Writes in the ledger: Jira and Asana POST/PUT/DELETE (searches excluded); Linear mutations; Slack
 * `chat.postMessage` / `chat.update` / `chat.delete` (every Web API call is a POST, reads too).
 */
export function writes(entries: LedgerEntry[], platform: E2EPlatform): LedgerEntry[] {
  if (platform === 'slack') return entries.filter((e) => /\/chat\.(postMessage|update|delete)$/.test(e.path));
  if (platform === 'asana') return entries.filter((e) => e.method !== 'GET');
  if (platform === 'jira') {
    // POST /comment/list reads comments by id (the comment marker look-up): a read.
    return entries.filter(
      (e) => e.method !== 'GET' && !e.path.endsWith('/search/jql') && !e.path.endsWith('/comment/list'),
    );
  }
  return entries.filter((e) => e.operation !== null && /(Create|Update|Delete|Archive)$/.test(e.operation));
}

/** Ledger entries made by Lockstep's bot since `since` (a ledger seq). */
export function botCalls(e: E2E, platform: E2EPlatform, since = 0): LedgerEntry[] {
  const emu = emulatorOf(e, platform);
  const bot = emu.kit.actors.all().find((u) => u.isBot);
  return emu.ledger.list(since).filter((x) => x.actor === bot?.id);
}

export function lastSeq(e: E2E, platform: E2EPlatform): number {
  const emu = emulatorOf(e, platform);
  return emu.ledger.list().at(-1)?.seq ?? 0;
}

export interface AsanaTaskView {
  gid: string;
  name: string;
  html_notes: string;
  completed: boolean;
  assignee: { email: string } | null;
  due_on: string | null;
  memberships: { section: { name: string } | null }[];
}

/** Tasks of the world's Asana project, with the fields Lockstep syncs (as a person, not the bot). */
export async function asanaTasks(e: E2E, project: string): Promise<AsanaTaskView[]> {
  // The SDK types the answer as any (its Collection or the body); it is the body's `data`.
  const r: { data: AsanaTaskView[] } = await e.asanaAs('alice').tasks.getTasksForProject(project, {
    opt_fields: 'name,html_notes,completed,assignee.email,due_on,memberships.section.name',
  });
  return r.data;
}

/** The comment stories of an Asana task (system stories left out), oldest first. */
export async function asanaComments(e: E2E, task: string): Promise<{ gid: string; text: string }[]> {
  const r: { data: { gid: string; type: string; text: string }[] } = await e
    .asanaAs('alice')
    .stories.getStoriesForTask(task, { opt_fields: 'type,text' });
  return r.data.filter((s) => s.type === 'comment').map(({ gid, text }) => ({ gid, text }));
}

export interface SlackMessageView {
  ts: string;
  text: string;
  user?: string;
  thread_ts?: string;
  blocks?: unknown[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}

/** The Lockstep cards in a Slack channel (top-level messages with `lockstep_card` metadata), as Alice reads them. */
export async function slackCards(e: E2E, channel: string): Promise<SlackMessageView[]> {
  const r = await e
    .slackAs('alice')
    .conversations.history({ channel, limit: 200, include_all_metadata: true });
  const all = (r.messages ?? []) as SlackMessageView[];
  return all.filter((m) => m.metadata?.event_type === 'lockstep_card');
}

/** The card whose metadata title is `title` (the card's own fields live in its metadata). */
export async function slackCard(
  e: E2E,
  channel: string,
  title: string,
): Promise<SlackMessageView | undefined> {
  return (await slackCards(e, channel)).find((m) => m.metadata?.event_payload['title'] === title);
}

/** The replies in a card's thread, oldest first, the card itself left out. */
export async function slackThread(e: E2E, channel: string, ts: string): Promise<SlackMessageView[]> {
  const r = await e
    .slackAs('alice')
    .conversations.replies({ channel, ts, limit: 200, include_all_metadata: true });
  return ((r.messages ?? []) as SlackMessageView[]).filter((m) => m.ts !== ts);
}
