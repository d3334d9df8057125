import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import { botCalls, jiraAccountId, jiraIssues, lastSeq, linearIds, linearIssues, writes } from './helpers.ts';

describe('two-way sync Linear ↔ Jira (end to end)', { timeout: 600_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E();
  });
  after(async () => {
    await e?.stop();
  });

  it('an issue created in Linear appears in Jira with every field', async () => {
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    await bob.createIssue({
      teamId: ids.teamId,
      title: 'Checkout fails on Safari',
      description: 'Steps:\n\n- open the cart\n- press **Pay**',
      priority: 2,
      stateId: ids.state('In Progress'),
      assigneeId: await ids.user('alice@example.com'),
      labelIds: [ids.label('bug')],
    });
    const jira = e.jiraAs('carol');
    const aliceJira = await jiraAccountId(jira, 'alice@example.com');
    await eventually('the issue in Jira', async () =>
      (await jiraIssues(jira)).find((i) => i.fields.summary === 'Checkout fails on Safari'),
    );
    // A Jira create is two calls (create, then the transition to its status): read it once settled.
    await settled(e);
    const issue = (await jiraIssues(jira)).find((i) => i.fields.summary === 'Checkout fails on Safari');
    assert.ok(issue);
    assert.equal(issue.fields.status?.name, 'In Progress');
    assert.equal(issue.fields.priority?.name, 'High');
    assert.equal(issue.fields.assignee?.accountId, aliceJira);
    assert.deepEqual(issue.fields.labels, ['bug']);
    assert.match(JSON.stringify(issue.fields.description), /open the cart/);
  });

  it('an issue created in Jira appears in Linear with every field', async () => {
    const jira = e.jiraAs('carol');
    await jira.issues.createIssue({
      fields: {
        project: { key: 'ENG' },
        issuetype: { name: 'Task' },
        summary: 'Export reports as CSV',
        description: {
          type: 'doc',
          version: 1,
          content: [
            { type: 'paragraph', content: [{ type: 'text', text: 'Finance needs monthly exports.' }] },
          ],
        },
        priority: { name: 'Low' },
        assignee: { accountId: await jiraAccountId(jira, 'bob@example.com') },
        labels: ['feature'],
      },
    });
    const found = await eventually('the issue in Linear', async () =>
      (await linearIssues(e.linearAs('alice'))).find((i) => i.title === 'Export reports as CSV'),
    );
    assert.equal(found.priority, 4);
    assert.equal(found.state.name, 'Todo');
    assert.equal(found.assignee?.email, 'bob@example.com');
    assert.deepEqual(
      found.labels.nodes.map((l) => l.name),
      ['feature'],
    );
    assert.match(found.description ?? '', /Finance needs monthly exports\./);
  });

  it('settles: no further API calls once the creates have propagated', async () => {
    await settled(e);
    const l = lastSeq(e, 'linear');
    const j = lastSeq(e, 'jira');
    await settled(e); // a loop would keep work pending or make calls here
    assert.deepEqual(botCalls(e, 'linear', l), []);
    assert.deepEqual(botCalls(e, 'jira', j), []);
  });

  it('one edit of one field costs exactly one write on the other side, both ways', async () => {
    const bob = e.linearAs('bob');
    const issue = (await linearIssues(bob)).find((i) => i.title === 'Checkout fails on Safari');
    assert.ok(issue);
    await settled(e);
    const since = lastSeq(e, 'jira');
    await bob.updateIssue(issue.id, { title: 'Checkout fails on Safari 17' });
    const jira = e.jiraAs('carol');
    await eventually('the title in Jira', async () =>
      (await jiraIssues(jira)).find((i) => i.fields.summary === 'Checkout fails on Safari 17'),
    );
    await settled(e);
    assert.equal(writes(botCalls(e, 'jira', since), 'jira').length, 1);
    assert.equal(writes(botCalls(e, 'linear', lastSeq(e, 'linear')), 'linear').length, 0);

    const jiraIssue = (await jiraIssues(jira)).find(
      (i) => i.fields.summary === 'Checkout fails on Safari 17',
    );
    assert.ok(jiraIssue);
    const lSince = lastSeq(e, 'linear');
    await jira.issues.editIssue({
      issueIdOrKey: jiraIssue.key,
      fields: { summary: 'Checkout fails on Safari 17.2' },
    });
    await eventually('the title in Linear', async () =>
      (await linearIssues(bob)).find((i) => i.title === 'Checkout fails on Safari 17.2'),
    );
    await settled(e);
    assert.equal(writes(botCalls(e, 'linear', lSince), 'linear').length, 1);
  });
});
