/**
 * The Linear emulator driven by the official @linear/sdk through every operation Lockstep uses.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { AuthenticationLinearError, LinearDocument, type LinearClient } from '@linear/sdk';
import { demoSeed, LINEAR_DEMO_TOKENS } from './index.ts';
import { startDemo, type Emu } from './harness.ts';
import type { EmulatorControl } from '../common/control-client.ts';

let emu: Emu;
let control: EmulatorControl;
let client: (who: string) => LinearClient;
let bot: LinearClient;
let alice: LinearClient;
let teamId: string;
let states: Record<string, string>;
let labels: Record<string, string>;

before(async () => {
  ({ emu, control, client } = await startDemo());
});
after(() => emu.close());

beforeEach(async () => {
  await control.reset();
  await control.seed(demoSeed());
  bot = client('bot');
  alice = client('alice');
  const team = (await bot.teams({ filter: { key: { eq: 'ENG' } } })).nodes[0]!;
  teamId = team.id;
  const st = await bot.workflowStates({ filter: { team: { id: { eq: teamId } } } });
  states = Object.fromEntries(st.nodes.map((s) => [s.name, s.id]));
  labels = Object.fromEntries((await bot.issueLabels()).nodes.map((l) => [l.name, l.id]));
  await control.clearLedger();
});

describe('Linear emulator with @linear/sdk', () => {
  it('lists teams, the five default workflow states per team, labels, users and the viewer', async () => {
    const team = await bot.team(teamId);
    assert.equal(team.key, 'ENG');
    const st = await team.states();
    assert.deepEqual(st.nodes.map((s) => `${s.name}/${s.type}`).sort(), [
      'Backlog/backlog',
      'Canceled/canceled',
      'Done/completed',
      'In Progress/started',
      'Todo/unstarted',
    ]);
    assert.deepEqual(Object.keys(labels).sort(), ['bug', 'feature', 'improvement']);
    const bob = await bot.users({ filter: { email: { eq: 'bob@example.com' } } });
    assert.deepEqual(
      bob.nodes.map((u) => [u.name, u.email]),
      [['Bob Example', 'bob@example.com']],
    );
    const me = await bot.viewer;
    assert.equal(me.email, 'lockstep-bot@example.com');
    assert.equal((await alice.viewer).name, 'Alice Example');
    const ledger = await control.ledger();
    // team, team.states, users, viewer ×2: one request each.
    assert.equal(ledger.summary.total, 5);
    assert.equal(ledger.summary.byRoute['POST /graphql viewer'], 2);
  });

  it('reads an issue by id and by identifier, with state, assignee, labels and comments', async () => {
    const byKey = await bot.issue('ENG-1');
    const byId = await bot.issue(byKey.id);
    assert.equal(byId.identifier, 'ENG-1');
    assert.equal(byKey.title, 'Login page times out on slow networks');
    assert.equal(byKey.priority, 2);
    assert.equal(byKey.priorityLabel, 'High');
    assert.match(byKey.url, /\/issue\/ENG-1\//);
    assert.equal((await byKey.state)?.name, 'Todo');
    assert.equal((await byKey.assignee)?.email, 'alice@example.com');
    assert.deepEqual(
      (await byKey.labels()).nodes.map((l) => l.name),
      ['bug'],
    );
    const comments = await byKey.comments();
    assert.deepEqual(
      comments.nodes.map((c) => c.body),
      ['Reproduced on Chrome with throttling.'],
    );
    assert.equal((await comments.nodes[0]!.user)?.email, 'bob@example.com');
  });

  it('creates an issue with every field Lockstep writes, landing in Backlog without a stateId', async () => {
    const bob = (await bot.users({ filter: { email: { eq: 'bob@example.com' } } })).nodes[0]!;
    const created = await bot.createIssue({
      teamId,
      title: 'Sync me',
      description: '# Heading\n\nbody',
      priority: 1,
      assigneeId: bob.id,
      labelIds: [labels.bug!, labels.feature!],
      dueDate: '2030-01-31',
    });
    assert.equal(created.success, true);
    assert.ok(created.lastSyncId > 0);
    const issue = (await created.issue)!;
    assert.equal(issue.identifier, 'ENG-3');
    assert.equal(issue.number, 3);
    assert.equal(issue.description, '# Heading\n\nbody');
    assert.equal(issue.priorityLabel, 'Urgent');
    assert.equal(issue.dueDate, '2030-01-31');
    assert.deepEqual([...issue.labelIds].sort(), [labels.bug, labels.feature].sort());
    assert.equal((await issue.state)?.name, 'Backlog');
    assert.equal((await issue.creator)?.email, 'lockstep-bot@example.com');
    assert.equal(issue.createdAt.getTime(), issue.updatedAt.getTime());
  });

  it('updates fields, changes status (with its timestamps) and always advances updatedAt', async () => {
    const issue = await bot.issue('ENG-2');
    const t0 = issue.updatedAt.getTime();
    await bot.updateIssue(issue.id, { title: 'Export reports as CSV and XLSX', priority: 4 });
    const a = await bot.issue('ENG-2');
    assert.equal(a.title, 'Export reports as CSV and XLSX');
    assert.equal(a.priorityLabel, 'Low');
    assert.ok(a.updatedAt.getTime() > t0);

    await bot.updateIssue('ENG-2', { stateId: states['In Progress']! });
    const b = await bot.issue('ENG-2');
    assert.equal((await b.state)?.type, 'started');
    assert.ok(b.startedAt);
    assert.ok(b.updatedAt.getTime() > a.updatedAt.getTime());

    await bot.updateIssue('ENG-2', { stateId: states.Done! });
    const c = await bot.issue('ENG-2');
    assert.ok(c.completedAt);

    await bot.updateIssue('ENG-2', { stateId: states.Todo!, assigneeId: null, labelIds: [], dueDate: null });
    const d = await bot.issue('ENG-2');
    assert.equal(d.completedAt, undefined);
    assert.equal(await d.assignee, undefined);
    assert.deepEqual(d.labelIds, []);

    // An update that changes nothing does not move updatedAt (nothing happened on the platform).
    await bot.updateIssue('ENG-2', { title: d.title });
    assert.equal((await bot.issue('ENG-2')).updatedAt.getTime(), d.updatedAt.getTime());
  });

  it('creates, edits and lists comments, on the issue and through comments(filter: updatedAt)', async () => {
    // The emulator's clock, not the wall clock: it runs ahead of Date.now() when many changes land
    // in one millisecond (seeding), and a cursor must be later than every change made so far.
    const since = emu.workspace.now();
    const issue = await bot.issue('ENG-1');
    const made = await alice.createComment({ issueId: 'ENG-1', body: 'First!' });
    const comment = (await made.comment)!;
    assert.equal((await comment.user)?.email, 'alice@example.com');
    assert.equal(comment.editedAt, undefined);
    await alice.updateComment(comment.id, { body: 'First, edited' });
    const onIssue = await issue.comments();
    assert.deepEqual(onIssue.nodes.map((c) => c.body).sort(), [
      'First, edited',
      'Reproduced on Chrome with throttling.',
    ]);
    const recent = await bot.comments({ filter: { updatedAt: { gt: since } } });
    assert.deepEqual(
      recent.nodes.map((c) => c.body),
      ['First, edited'],
    );
    assert.ok(recent.nodes[0]!.editedAt);
    const onlyIssue = await bot.comments({ filter: { issue: { id: { eq: issue.id } } } });
    assert.equal(onlyIssue.nodes.length, 2);
  });

  it('polls a delta: issues(filter updatedAt gt, team) ordered by updatedAt with cursor pages', async () => {
    const cursor = emu.workspace.now();
    for (let i = 0; i < 5; i++) await bot.createIssue({ teamId, title: `bulk ${i}` });
    await bot.updateIssue('ENG-1', { title: 'touched' });
    const page1 = await bot.issues({
      filter: { updatedAt: { gt: cursor }, team: { key: { eq: 'ENG' } } },
      orderBy: LinearDocument.PaginationOrderBy.UpdatedAt,
      first: 4,
    });
    assert.equal(page1.nodes.length, 4);
    assert.equal(page1.pageInfo.hasNextPage, true);
    // Newest first: the last update leads.
    assert.equal(page1.nodes[0]!.identifier, 'ENG-1');
    await page1.fetchNext();
    assert.equal(page1.pageInfo.hasNextPage, false);
    assert.deepEqual(
      page1.nodes.map((n) => n.identifier).sort(),
      ['ENG-1', 'ENG-3', 'ENG-4', 'ENG-5', 'ENG-6', 'ENG-7'].sort(),
    );
    const none = await bot.issues({
      filter: { updatedAt: { gt: new Date(Date.now() + 60_000).toISOString() } },
    });
    assert.deepEqual(none.nodes, []);

    // The same read as raw GraphQL, the way a connector's poller may send it.
    const raw = await bot.client.rawRequest<
      {
        issues: {
          nodes: { identifier: string; updatedAt: string }[];
          pageInfo: { hasNextPage: boolean; endCursor: string };
        };
      },
      Record<string, unknown>
    >(
      `query Delta($since: DateTimeOrDuration!, $after: String) {
        issues(filter: { updatedAt: { gte: $since } }, orderBy: updatedAt, first: 100, after: $after) {
          nodes { identifier updatedAt } pageInfo { hasNextPage endCursor }
        }
      }`,
      { since: cursor },
    );
    assert.equal(raw.status, 200);
    assert.equal(raw.data?.issues.nodes.length, 6);
    const times = raw.data!.issues.nodes.map((n) => Date.parse(n.updatedAt));
    assert.deepEqual(
      times,
      [...times].sort((x, y) => y - x),
    );
    assert.equal(raw.headers?.get('x-ratelimit-requests-limit'), '2500');
  });

  it('records the create marker as an attachment, idempotent per (issue, url), and finds it by url', async () => {
    const url = 'https://lockstep.example/links/7f1e';
    const first = await bot.createAttachment({
      issueId: 'ENG-1',
      url,
      title: 'Lockstep link',
      metadata: { link: '7f1e' },
    });
    const again = await bot.createAttachment({ issueId: 'ENG-1', url, title: 'Lockstep link (2)' });
    assert.equal((await first.attachment)?.id, (await again.attachment)?.id);
    const found = await bot.attachmentsForURL(url);
    assert.equal(found.nodes.length, 1);
    assert.equal(found.nodes[0]!.title, 'Lockstep link (2)');
    assert.equal((await found.nodes[0]!.issue)?.identifier, 'ENG-1');
    const filtered = await bot.attachments({ filter: { url: { eq: url } } });
    assert.equal(filtered.nodes.length, 1);
    assert.equal((await bot.attachmentsForURL('https://nope.example/')).nodes.length, 0);
  });

  it('registers, lists and deletes webhooks (admin only, as on Linear)', async () => {
    const made = await bot.createWebhook({
      url: 'https://hooks.example/linear',
      teamId,
      resourceTypes: ['Issue', 'Comment'],
      label: 'Lockstep',
      secret: 's3cret',
    });
    const hook = (await made.webhook)!;
    assert.equal(hook.enabled, true);
    assert.equal(hook.secret, 's3cret');
    const all = await bot.webhooks();
    assert.deepEqual(
      all.nodes.map((w) => w.label),
      ['Lockstep'],
    );
    const generated = await bot.createWebhook({
      url: 'https://hooks.example/2',
      allPublicTeams: true,
      resourceTypes: ['Issue'],
    });
    assert.match((await generated.webhook)!.secret ?? '', /^lin_wh_/);
    await bot.deleteWebhook(hook.id);
    assert.equal((await bot.webhooks()).nodes.length, 1);

    const bob = client('bob');
    await assert.rejects(bob.webhooks(), { type: 'Forbidden' });
  });

  it('deletes (trashes) an issue: gone from reads and lists', async () => {
    const issue = await bot.issue('ENG-2');
    await bot.deleteIssue(issue.id);
    await assert.rejects(bot.issue('ENG-2'), { type: 'InvalidInput' });
    assert.deepEqual(
      (await bot.issues()).nodes.map((n) => n.identifier),
      ['ENG-1'],
    );
  });

  it('refuses a key Linear never issued, and a revoked one until it is issued again', async () => {
    await assert.rejects(client('lin_api_someone_new').viewer, AuthenticationLinearError);
    const bob = client(LINEAR_DEMO_TOKENS.bob);
    const me = await bob.viewer;
    assert.equal(await control.revokeToken(LINEAR_DEMO_TOKENS.bob), true);
    await assert.rejects(client(LINEAR_DEMO_TOKENS.bob).viewer, AuthenticationLinearError);
    assert.equal(await control.issueToken(me.id, LINEAR_DEMO_TOKENS.bob), true);
    assert.equal((await client(LINEAR_DEMO_TOKENS.bob).viewer).id, me.id);
  });
});
