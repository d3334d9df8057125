/** The Jira operations Lockstep uses, driven through jira.js against the emulator. */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ALICE, BOT, adf, failure, harness, testSeed, type Harness } from './helpers.ts';

describe('jira emulator: issues, transitions, comments, properties, users', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => {
    await h.close();
  });
  beforeEach(async () => {
    await h.control.reset();
    await h.control.seed(testSeed());
  });

  it('creates an issue and reads it back with every field Lockstep maps', async () => {
    const created = await h.bot.issues.createIssue({
      fields: {
        project: { key: 'LOCK' },
        issuetype: { name: 'Task' },
        summary: 'Sync me',
        description: adf('Body text'),
        priority: { name: 'High' },
        assignee: { accountId: ALICE.accountId },
        labels: ['lockstep', 'sync'],
      },
    });
    assert.equal(created.key, 'LOCK-1');
    assert.match(created.id, /^\d+$/);
    assert.equal(created.self, `${h.emu.url}/rest/api/3/issue/${created.id}`);

    const issue = await h.bot.issues.getIssue({ issueIdOrKey: 'LOCK-1' });
    assert.equal(issue.id, created.id);
    assert.equal(issue.fields.summary, 'Sync me');
    assert.deepEqual(issue.fields.description, adf('Body text'));
    assert.equal(issue.fields.priority?.name, 'High');
    assert.equal(issue.fields.assignee?.accountId, ALICE.accountId);
    assert.equal(issue.fields.assignee?.emailAddress, ALICE.email);
    assert.equal(issue.fields.reporter?.accountId, BOT.accountId);
    assert.deepEqual(issue.fields.labels, ['lockstep', 'sync']);
    assert.equal(issue.fields.status.name, 'To Do');
    assert.equal(issue.fields.status.statusCategory?.key, 'new');
    assert.equal(issue.fields.project.key, 'LOCK');
    assert.match(issue.fields.updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    assert.equal(issue.fields.created, issue.fields.updated);

    // By id too, and with a fields filter: only the asked-for fields come back.
    const slim = await h.bot.issues.getIssue({ issueIdOrKey: created.id, fields: ['summary', 'updated'] });
    assert.deepEqual(Object.keys(slim.fields).sort(), ['summary', 'updated']);
  });

  it('edits fields and updates with 204, moves `updated` forward and records the changelog', async () => {
    const { key } = await h.bot.issues.createIssue({
      fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Before', labels: ['a'] },
    });
    const before = await h.bot.issues.getIssue({ issueIdOrKey: key, fields: ['updated'] });
    const result = await h.alice.issues.editIssue({
      issueIdOrKey: key,
      fields: { summary: 'After', priority: { name: 'Low' } },
      update: { labels: [{ add: 'b' }, { remove: 'a' }] },
    });
    assert.equal(result, '');
    const after = await h.bot.issues.getIssue({ issueIdOrKey: key, expand: 'changelog' });
    assert.equal(after.fields.summary, 'After');
    assert.equal(after.fields.priority?.name, 'Low');
    assert.deepEqual(after.fields.labels, ['b']);
    assert.ok(Date.parse(after.fields.updated) > Date.parse(before.fields.updated));
    const history = after.changelog?.histories?.[0];
    assert.equal(history?.author?.accountId, ALICE.accountId);
    assert.deepEqual(
      history?.items?.map((i) => [i.field, i.fromString, i.toString]),
      [
        ['summary', 'Before', 'After'],
        ['priority', 'Medium', 'Low'],
        ['labels', 'a', 'b'],
      ],
    );
  });

  it('changes status only through the workflow transitions', async () => {
    const { key } = await h.bot.issues.createIssue({
      fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Flow' },
    });
    const { transitions } = await h.bot.issues.getTransitions({ issueIdOrKey: key });
    assert.deepEqual(
      transitions?.map((t) => [t.id, t.to?.name, t.to?.statusCategory?.key]),
      [
        ['21', 'In Progress', 'indeterminate'],
        ['31', 'Done', 'done'],
        ['41', 'Canceled', 'done'],
      ],
    );
    await h.bot.issues.doTransition({ issueIdOrKey: key, transition: { id: '21' } });
    let issue = await h.bot.issues.getIssue({ issueIdOrKey: key, fields: ['status', 'resolution'] });
    assert.equal(issue.fields.status.name, 'In Progress');
    assert.equal(issue.fields.resolution, null);

    await h.bot.issues.doTransition({ issueIdOrKey: key, transition: { id: '31' } });
    issue = await h.bot.issues.getIssue({
      issueIdOrKey: key,
      fields: ['status', 'resolution', 'resolutiondate'],
    });
    assert.equal(issue.fields.status.statusCategory?.key, 'done');
    assert.equal(issue.fields.resolution?.name, 'Done');
    assert.ok(issue.fields.resolutiondate);

    // The transition to the current status is not offered and is refused like Jira does.
    const same = await failure(() =>
      h.bot.issues.doTransition({ issueIdOrKey: key, transition: { id: '31' } }),
    );
    assert.equal(same.status, 400);
    assert.deepEqual(same.body, {
      errorMessages: ["Transition id '31' is not valid for this issue."],
      errors: {},
    });

    // Status is not editable through fields.
    const edit = await failure(() =>
      h.bot.issues.editIssue({ issueIdOrKey: key, fields: { status: { id: '10000' } } }),
    );
    assert.equal(edit.status, 400);
    assert.deepEqual(edit.body, {
      errorMessages: [],
      errors: { status: "Field 'status' cannot be set. It is not on the appropriate screen, or unknown." },
    });
  });

  it('keeps comment properties given on create and reads comments by id with expand=properties', async () => {
    const { key } = await h.bot.issues.createIssue({
      fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Props' },
    });
    const marked = await h.bot.issueComments.addComment({
      issueIdOrKey: key,
      comment: adf('marked'),
      properties: [{ key: 'lockstep.link', value: { id: 'm-1' } }],
    });
    const plain = await h.alice.issueComments.addComment({ issueIdOrKey: key, comment: adf('plain') });
    const page = await h.bot.issueComments.getCommentsByIds({
      ids: [Number(plain.id), Number(marked.id), 999_999],
      expand: 'properties',
    });
    assert.equal(page.total, 2, 'an id that names no comment is left out');
    assert.deepEqual(
      page.values?.map((c) => [c.id, c.properties]),
      [
        [marked.id, [{ key: 'lockstep.link', value: { id: 'm-1' } }]],
        [plain.id, []],
      ],
    );
    const bare = await h.bot.issueComments.getCommentsByIds({ ids: [Number(marked.id)] });
    assert.equal(bare.values?.[0]?.properties, undefined, 'properties only when expanded');
    await assert.rejects(
      h.bot.issueComments.getCommentsByIds({ ids: Array.from({ length: 1001 }, (_, i) => i + 1) }),
      (err: { status?: number; response?: { status?: number } }) =>
        (err.status ?? err.response?.status) === 400,
    );
  });

  it('creates, lists and updates comments with ADF bodies; a comment bumps the issue', async () => {
    const { key } = await h.bot.issues.createIssue({
      fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Talk' },
    });
    const before = await h.bot.issues.getIssue({ issueIdOrKey: key, fields: ['updated'] });
    const c1 = await h.alice.issueComments.addComment({ issueIdOrKey: key, comment: adf('first') });
    const c2 = await h.bot.issueComments.addComment({ issueIdOrKey: key, comment: adf('second') });
    assert.equal(c1.author?.accountId, ALICE.accountId);
    assert.deepEqual(c1.body, adf('first'));
    const updated = await h.alice.issueComments.updateComment({
      issueIdOrKey: key,
      id: c1.id ?? '',
      body: adf('first, edited'),
    });
    assert.deepEqual(updated.body, adf('first, edited'));
    assert.ok(Date.parse(updated.updated ?? '') > Date.parse(updated.created ?? ''));

    const page = await h.bot.issueComments.getComments({ issueIdOrKey: key });
    assert.equal(page.total, 2);
    assert.deepEqual(
      page.comments?.map((c) => [c.id, c.author?.accountId]),
      [
        [c1.id, ALICE.accountId],
        [c2.id, BOT.accountId],
      ],
    );
    const newest = await h.bot.issueComments.getComments({
      issueIdOrKey: key,
      orderBy: '-created',
      maxResults: 1,
    });
    assert.deepEqual(
      newest.comments?.map((c) => c.id),
      [c2.id],
    );
    const after = await h.bot.issues.getIssue({ issueIdOrKey: key, fields: ['updated'] });
    assert.ok(Date.parse(after.fields.updated) > Date.parse(before.fields.updated));
  });

  it("stores Lockstep's create marker as an issue property", async () => {
    const { key } = await h.bot.issues.createIssue({
      fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Marked' },
    });
    await h.bot.issueProperties.setIssueProperty({
      issueIdOrKey: key,
      propertyKey: 'lockstep.origin',
      propertyValue: { link: 'lnk-1', source: 'linear' },
    });
    const prop = await h.bot.issueProperties.getIssueProperty({
      issueIdOrKey: key,
      propertyKey: 'lockstep.origin',
    });
    assert.deepEqual(prop, { key: 'lockstep.origin', value: { link: 'lnk-1', source: 'linear' } });
    const missing = await failure(() =>
      h.bot.issueProperties.getIssueProperty({ issueIdOrKey: key, propertyKey: 'nope' }),
    );
    assert.equal(missing.status, 404);
  });

  it('answers myself, user search by email, project, priorities and statuses', async () => {
    const me = await h.bot.myself.getCurrentUser();
    assert.equal(me.accountId, BOT.accountId);
    assert.equal(me.emailAddress, BOT.email);
    const users = await h.bot.userSearch.findUsers({ query: 'alice@example.com' });
    assert.deepEqual(
      users.map((u) => u.accountId),
      [ALICE.accountId],
    );
    const project = await h.bot.projects.getProject({ projectIdOrKey: 'LOCK' });
    assert.equal(project.id, '10100');
    assert.ok(project.issueTypes?.some((t) => t.name === 'Task'));
    const priorities = await h.bot.issuePriorities.getPriorities();
    assert.deepEqual(
      priorities.map((p) => p.name),
      ['Highest', 'High', 'Medium', 'Low', 'Lowest'],
    );
    const statuses = await h.bot.workflowStatuses.getStatuses();
    assert.deepEqual(
      statuses.map((s) => [s.name, s.statusCategory?.key]),
      [
        ['To Do', 'new'],
        ['In Progress', 'indeterminate'],
        ['Done', 'done'],
        ['Canceled', 'done'],
      ],
    );
    // A token Atlassian never issued, or one revoked (a deleted API token), is refused with 401.
    await assert.rejects(h.client('someone@example.com', 'never-seen-token').myself.getCurrentUser(), /401/);
  });

  it('counts every request in the ledger, per route and per actor', async () => {
    await h.control.clearLedger();
    const { key } = await h.bot.issues.createIssue({
      fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Counted' },
    });
    await h.bot.issues.getIssue({ issueIdOrKey: key });
    await h.alice.issues.getIssue({ issueIdOrKey: key });
    await failure(() => h.alice.issues.getIssue({ issueIdOrKey: 'LOCK-999' }));
    const { summary, entries } = await h.control.ledger();
    assert.equal(summary.total, 4);
    assert.deepEqual(summary.byActor, { [BOT.accountId]: 2, [ALICE.accountId]: 2 });
    assert.equal(summary.byRoute['POST /rest/api/3/issue createIssue'], 1);
    assert.deepEqual(
      entries.map((e) => e.status),
      [201, 200, 200, 404],
    );
  });
});
