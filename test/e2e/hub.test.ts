/**
 * One hub flow over three trackers (issue 9): Linear team ENG, Jira project ENG and the Asana
 * emulator's project (sections Backlog / To do / In progress / Done), on the real stack and
 * processes. An item made on any side reaches the other two with one create each; an edit on any
 * side reaches the other two with one write each; a comment anywhere appears once on each other
 * side; after settling nobody writes. Asana's webhooks are compact: ingest fetches each task they
 * name (expand) before normalize, and the handshake's secret is learned inside the registration
 * window the harness holds open (services/ingest/register.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { VerifyReport } from '../../services/ops/verify.ts';
import { ASANA_PROJECT, eventually, settled, startE2E, type E2E } from './harness.ts';
import {
  asanaComments,
  asanaTasks,
  botCalls,
  jiraAccountId,
  jiraIssue,
  jiraIssues,
  lastSeq,
  linearIds,
  lockstep,
  linearIssues,
  writes,
} from './helpers.ts';

const SECTIONS = { todo: '1100000000000102', inProgress: '1100000000000103', done: '1100000000000104' };
const ALICE_ASANA = '1100000000000011';

describe('one hub flow: Linear, Jira and Asana (end to end)', { timeout: 900_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E({ asana: true });
  });
  after(async () => {
    await e?.stop();
  });

  const findTask = async (name: string) =>
    eventually(`the Asana task "${name}"`, async () =>
      (await asanaTasks(e, ASANA_PROJECT)).find((t) => t.name === name),
    );

  it('an issue made in Linear appears in Jira and in Asana with its fields, one create each', async () => {
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    const j0 = lastSeq(e, 'jira');
    const a0 = lastSeq(e, 'asana');
    await bob.createIssue({
      teamId: ids.teamId,
      title: 'Hub: checkout fails on Safari',
      description: 'Steps:\n\n- open the cart\n- press **Pay**',
      stateId: ids.state('In Progress'),
      assigneeId: await ids.user('alice@example.com'),
      dueDate: '2031-03-01',
    });
    const task = await findTask('Hub: checkout fails on Safari');
    await settled(e);
    const t = (await asanaTasks(e, ASANA_PROJECT)).find((x) => x.gid === task.gid);
    assert.ok(t);
    assert.equal(t.memberships[0]?.section?.name, 'In progress');
    assert.equal(t.assignee?.email, 'alice@example.com');
    assert.equal(t.due_on, '2031-03-01');
    assert.match(t.html_notes, /<strong>Pay<\/strong>/);
    assert.match(t.html_notes, /<li>open the cart<\/li>/);
    const issue = (await jiraIssues(e.jiraAs('carol'))).find(
      (i) => i.fields.summary === 'Hub: checkout fails on Safari',
    );
    assert.ok(issue, 'the issue in Jira');
    assert.equal(issue.fields.status?.name, 'In Progress');
    const asanaCreates = writes(botCalls(e, 'asana', a0), 'asana').filter(
      (w) => w.method === 'POST' && w.path.endsWith('/tasks'),
    );
    assert.equal(asanaCreates.length, 1, 'one task created in Asana');
    const jiraCreates = writes(botCalls(e, 'jira', j0), 'jira').filter(
      (w) => w.method === 'POST' && w.path.endsWith('/issue'),
    );
    assert.equal(jiraCreates.length, 1, 'one issue created in Jira');
  });

  it('a task made in Asana appears in Linear and in Jira', async () => {
    const alice = e.asanaAs('alice');
    await alice.tasks.createTask({
      data: {
        name: 'Hub: export reports as CSV',
        html_notes: '<body>Finance needs <em>monthly</em> exports.</body>',
        projects: [ASANA_PROJECT],
        assignee: ALICE_ASANA,
      },
    });
    const l = await eventually('the issue in Linear', async () =>
      (await linearIssues(e.linearAs('carol'))).find((i) => i.title === 'Hub: export reports as CSV'),
    );
    assert.equal(l.assignee?.email, 'alice@example.com');
    assert.match(l.description ?? '', /Finance needs _monthly_ exports\./);
    await eventually('the issue in Jira', async () =>
      (await jiraIssues(e.jiraAs('carol'))).find((i) => i.fields.summary === 'Hub: export reports as CSV'),
    );
  });

  it('settles: no further calls by Lockstep once the creates have propagated', async () => {
    await settled(e);
    const seqs = { linear: lastSeq(e, 'linear'), jira: lastSeq(e, 'jira'), asana: lastSeq(e, 'asana') };
    await settled(e);
    assert.deepEqual(writes(botCalls(e, 'linear', seqs.linear), 'linear'), []);
    assert.deepEqual(writes(botCalls(e, 'jira', seqs.jira), 'jira'), []);
    assert.deepEqual(writes(botCalls(e, 'asana', seqs.asana), 'asana'), []);
  });

  it('an edit in Asana (rename and a section move) reaches Linear and Jira, one write each for the rename', async () => {
    const task = await findTask('Hub: checkout fails on Safari');
    await settled(e);
    const l0 = lastSeq(e, 'linear');
    const j0 = lastSeq(e, 'jira');
    await e
      .asanaAs('carol')
      .tasks.updateTask({ data: { name: 'Hub: checkout fails on Safari 17' } }, task.gid);
    await eventually('the rename in Linear', async () =>
      (await linearIssues(e.linearAs('bob'))).find((i) => i.title === 'Hub: checkout fails on Safari 17'),
    );
    await eventually('the rename in Jira', async () =>
      (await jiraIssues(e.jiraAs('bob'))).find(
        (i) => i.fields.summary === 'Hub: checkout fails on Safari 17',
      ),
    );
    await settled(e);
    assert.equal(writes(botCalls(e, 'linear', l0), 'linear').length, 1, 'one write in Linear');
    assert.equal(writes(botCalls(e, 'jira', j0), 'jira').length, 1, 'one write in Jira');

    await e
      .asanaAs('carol')
      .sections.addTaskForSection(SECTIONS.done, { body: { data: { task: task.gid } } });
    await eventually('Done in Linear', async () => {
      const i = (await linearIssues(e.linearAs('bob'))).find(
        (x) => x.title === 'Hub: checkout fails on Safari 17',
      );
      return i?.state.name === 'Done' ? i : undefined;
    });
    const key = (await jiraIssues(e.jiraAs('bob'))).find(
      (i) => i.fields.summary === 'Hub: checkout fails on Safari 17',
    )?.key;
    assert.ok(key);
    await eventually('Done in Jira', async () =>
      (await jiraIssue(e.jiraAs('bob'), key)).fields.status?.name === 'Done' ? true : undefined,
    );
  });

  it('an edit in Jira reaches Linear and Asana with one write each', async () => {
    await settled(e);
    const jira = e.jiraAs('carol');
    const issue = (await jiraIssues(jira)).find((i) => i.fields.summary === 'Hub: export reports as CSV');
    assert.ok(issue);
    const l0 = lastSeq(e, 'linear');
    const a0 = lastSeq(e, 'asana');
    await jira.issues.editIssue({
      issueIdOrKey: issue.key,
      fields: {
        summary: 'Hub: export reports as CSV and XLSX',
        assignee: { accountId: await jiraAccountId(jira, 'bob@example.com') },
      },
    });
    const task = await findTask('Hub: export reports as CSV and XLSX');
    await settled(e);
    const t = (await asanaTasks(e, ASANA_PROJECT)).find((x) => x.gid === task.gid);
    assert.equal(t?.assignee?.email, 'bob@example.com');
    const l = (await linearIssues(e.linearAs('alice'))).find(
      (i) => i.title === 'Hub: export reports as CSV and XLSX',
    );
    assert.equal(l?.assignee?.email, 'bob@example.com');
    assert.equal(writes(botCalls(e, 'linear', l0), 'linear').length, 1, 'one write in Linear');
    assert.equal(writes(botCalls(e, 'asana', a0), 'asana').length, 1, 'one write in Asana');
  });

  it('a comment in Asana appears once in Linear and once in Jira; one in Linear appears once in Asana', async () => {
    const task = await findTask('Hub: export reports as CSV and XLSX');
    await e
      .asanaAs('bob')
      .stories.createStoryForTask({ data: { text: 'Asked finance for a sample file.' } }, task.gid);
    const l = await eventually('the Linear issue', async () =>
      (await linearIssues(e.linearAs('alice'))).find(
        (i) => i.title === 'Hub: export reports as CSV and XLSX',
      ),
    );
    const linear = e.linearAs('alice');
    await eventually('the comment in Linear', async () => {
      const cs = (await (await linear.issue(l.id)).comments()).nodes;
      return cs.some((c) => c.body.includes('Asked finance for a sample file.')) ? cs : undefined;
    });
    const key = (await jiraIssues(e.jiraAs('carol'))).find(
      (i) => i.fields.summary === 'Hub: export reports as CSV and XLSX',
    )?.key;
    assert.ok(key);
    const jira = e.jiraAs('carol');
    await eventually('the comment in Jira', async () => {
      const cs = await jira.issueComments.getComments({ issueIdOrKey: key });
      return JSON.stringify(cs.comments ?? []).includes('Asked finance for a sample file.')
        ? true
        : undefined;
    });

    await linear.createComment({ issueId: l.id, body: 'The sample arrived: **12 columns**.' });
    await eventually('the Linear comment in Asana', async () =>
      (await asanaComments(e, task.gid)).some((c) => c.text.includes('The sample arrived'))
        ? true
        : undefined,
    );
    await settled(e);
    const onAsana = (await asanaComments(e, task.gid)).map((c) => c.text);
    assert.equal(
      onAsana.filter((t) => t.includes('Asked finance for a sample file.')).length,
      1,
      onAsana.join(' | '),
    );
    assert.equal(onAsana.filter((t) => t.includes('The sample arrived')).length, 1, onAsana.join(' | '));
    const onLinear = (await (await linear.issue(l.id)).comments()).nodes.map((c) => c.body);
    assert.equal(
      onLinear.filter((b) => b.includes('Asked finance for a sample file.')).length,
      1,
      onLinear.join(' | '),
    );
    assert.equal(onLinear.filter((b) => b.includes('The sample arrived')).length, 1);
    const onJira = JSON.stringify(
      (await jira.issueComments.getComments({ issueIdOrKey: key })).comments ?? [],
    );
    assert.equal(onJira.split('Asked finance for a sample file.').length - 1, 1);
    assert.equal(onJira.split('The sample arrived').length - 1, 1);
  });

  it('lockstep verify reads every item and comment back on all three sides and finds them in step', async () => {
    await settled(e);
    const r = await lockstep(e, ['verify', '--json']);
    const report = JSON.parse(r.stdout) as VerifyReport;
    assert.equal(
      r.code,
      0,
      `${r.stderr}\n${JSON.stringify(report.drift)} ${JSON.stringify(report.missing)} ${JSON.stringify(report.errors)}`,
    );
    assert.ok(report.links.checked >= 4, `links checked: ${JSON.stringify(report.links)}`);
    assert.deepEqual(report.drift, []);
    assert.deepEqual(report.missing, []);
  });

  it('settles again: after the edits and comments nobody writes', async () => {
    await settled(e);
    const seqs = { linear: lastSeq(e, 'linear'), jira: lastSeq(e, 'jira'), asana: lastSeq(e, 'asana') };
    await settled(e);
    assert.deepEqual(writes(botCalls(e, 'linear', seqs.linear), 'linear'), []);
    assert.deepEqual(writes(botCalls(e, 'jira', seqs.jira), 'jira'), []);
    assert.deepEqual(writes(botCalls(e, 'asana', seqs.asana), 'asana'), []);
  });
});
