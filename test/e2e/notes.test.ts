/**
 * Visible notes end to end (egress/notes.ts), on the real stack with the Linear and Jira
 * emulators: Frank is a Jira user (his email visible) who has no Linear account, so a Jira issue
 * assigned to him reaches Linear without an assignee. The Linear issue gets exactly one comment by
 * Lockstep saying so — even after more edits that carry Frank again, and though its first two
 * posts fail (500) — and the comment never reaches Jira; the audit log records the note. With the
 * flow's `notes: none` the same sync leaves no comment, only the audit record of the field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LinearClient } from '@linear/sdk';
import { egressPort } from '../../services/app/config.ts';
import type { AuditRecord } from '../../schemas/generated/types.ts';
import { deadLetters } from './faults-support.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import { jiraAccountId, jiraIssue, linearIssues, lockstep } from './helpers.ts';
import type { Report } from '../../services/ops/report.ts';

const FRANK = { jira: '712020:e2e-frank', email: 'frank@example.com', name: 'Frank Example' };
const NOTE_MARKER = /lockstep-note:[0-9a-f]{32}/;

function addFrank(e: E2E): void {
  e.jiraEmu.kit.actors.add({
    id: FRANK.jira,
    name: FRANK.name,
    email: FRANK.email,
    isBot: false,
    tokens: ['e2e-jira-token-frank'],
  });
}

type RawComment = { id: string; body: string; user: { id: string } | null };

async function linearComments(client: LinearClient, issueId: string): Promise<RawComment[]> {
  const r = await client.client.rawRequest<
    { issue: { comments: { nodes: RawComment[] } } },
    Record<string, unknown>
  >(`query E2EComments($id: String!) { issue(id: $id) { comments { nodes { id body user { id } } } } }`, {
    id: issueId,
  });
  return r.data?.issue.comments.nodes ?? [];
}

/** The value of one sample of egress-<platform>'s /metrics (0 when absent). */
async function egressMetric(e: E2E, platform: string, name: string, labels: Record<string, string>) {
  const port = egressPort(e.config, platform);
  const text = await (await fetch(`http://${e.config.http.host}:${port}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelPart = line.slice(name.length + 1, line.indexOf('}'));
    if (want.every((w) => labelPart.split(',').includes(w)))
      return Number(line.slice(line.indexOf('}') + 1).trim());
  }
  return 0;
}

async function auditOf(e: E2E, linkId: string, field: string, result: string): Promise<AuditRecord[]> {
  const r = await e.db.query<{ record: AuditRecord }>(
    `select record from audit_log where link_id = $1 and field = $2 and record->>'result' = $3 order by id`,
    [linkId, field, result],
  );
  return r.rows.map((x) => x.record);
}

/** Creates a Jira issue assigned to Frank and waits for it in Linear; its Linear issue and link. */
async function syncFrankIssue(e: E2E, summary: string) {
  const jira = e.jiraAs('carol');
  const created = await jira.issues.createIssue({
    fields: {
      project: { key: 'ENG' },
      issuetype: { name: 'Task' },
      summary,
      assignee: { accountId: FRANK.jira },
    },
  });
  const linear = e.linearAs('alice');
  const mirrored = await eventually(`the Jira issue "${summary}" in Linear`, async () =>
    (await linearIssues(linear)).find((i) => i.title === summary),
  );
  const link = await eventually(`the link of ${created.key}`, async () => {
    const r = await e.db.query<{ link_id: string }>(
      `select link_id from reconciler_link_entities where platform = 'jira' and entity_id = $1`,
      [created.id],
    );
    return r.rows[0]?.link_id;
  });
  // The field could not be carried: the audit log has it whatever the flow's notes say.
  await eventually('the unresolvable assignee in the audit log', async () =>
    (await auditOf(e, link, 'assignee', 'unresolvable')).length > 0 ? true : undefined,
  );
  return { key: created.key, jiraId: created.id, linearId: mirrored.id, linkId: link };
}

describe('a field Lockstep cannot carry is noted once on the item (end to end)', { timeout: 600_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E({ notes: 'comment' });
    addFrank(e);
  });
  after(async () => {
    await e?.stop();
  });

  it('Jira does show Frank’s email, and Linear has no user with it', async () => {
    assert.equal(await jiraAccountId(e.jiraAs('carol'), FRANK.email), FRANK.jira);
    const users = await e.linearAs('alice').users({ filter: { email: { eq: FRANK.email } } });
    assert.equal(users.nodes.length, 0);
  });

  it('one Lockstep comment on the Linear issue, after failed posts and more edits; none on Jira; audited', async () => {
    // The first two note posts fail: the field write must not wait for them or fail with them.
    await e.linearControl.fault({
      kind: 'server_error',
      status: 500,
      count: 2,
      match: { operation: 'commentCreate' },
    });
    const item = await syncFrankIssue(e, 'Notes: assigned to Frank');
    assert.equal(
      (await linearIssues(e.linearAs('alice'))).find((i) => i.id === item.linearId)?.assignee,
      null,
    );

    const note = await eventually('one Lockstep note on the Linear issue', async () => {
      const notes = (await linearComments(e.linearAs('alice'), item.linearId)).filter((c) =>
        NOTE_MARKER.test(c.body),
      );
      return notes.length > 0 ? notes : undefined;
    });
    assert.equal(note.length, 1);
    const body = note[0]!.body;
    assert.match(body, /could not sync the assignee/);
    assert.match(body, /frank@example\.com/, 'the value');
    assert.match(body, new RegExp(`from Jira[^,]* ${item.key} \\(set by Carol`), 'where it came from');
    assert.match(body, /`people`/, 'how to fix it');
    const bot = e.linearEmu.kit.actors.all().find((u) => u.isBot);
    assert.equal(note[0]!.user?.id, bot?.id, 'posted by Lockstep’s bot user');

    // More edits of the item, two of them carrying Frank to Linear again.
    const jira = e.jiraAs('carol');
    await jira.issues.editIssue({ issueIdOrKey: item.key, fields: { summary: 'Notes: renamed once' } });
    await eventually('the rename in Linear', async () =>
      (await linearIssues(e.linearAs('alice'))).find((i) => i.title === 'Notes: renamed once'),
    );
    const alice = await jiraAccountId(jira, 'alice@example.com');
    await jira.issues.editIssue({ issueIdOrKey: item.key, fields: { assignee: { accountId: alice } } });
    await eventually('Alice assigned in Linear', async () =>
      (await linearIssues(e.linearAs('alice'))).find(
        (i) => i.id === item.linearId && i.assignee?.email === 'alice@example.com',
      ),
    );
    await jira.issues.editIssue({
      issueIdOrKey: item.key,
      fields: { assignee: { accountId: FRANK.jira }, summary: 'Notes: renamed twice' },
    });
    await eventually('Frank again, unresolvable again, in the audit log', async () =>
      (await auditOf(e, item.linkId, 'assignee', 'unresolvable')).length >= 2 ? true : undefined,
    );
    await settled(e);

    const comments = await linearComments(e.linearAs('alice'), item.linearId);
    assert.equal(comments.filter((c) => NOTE_MARKER.test(c.body)).length, 1, 'still exactly one note');
    // Never mirrored: Jira has no comment, and the note's echo was dropped before the reconciler.
    const jiraComments = await jira.issueComments.getComments({ issueIdOrKey: item.key });
    assert.equal(jiraComments.total ?? jiraComments.comments?.length ?? 0, 0);
    const aside = await e.db.query<{ n: number }>(
      `select count(*)::int as n from reconciler_aside where event->'source'->>'entityId' = $1`,
      [note[0]!.id],
    );
    assert.equal(aside.rows[0]!.n, 0, 'the note’s echo is not even set aside');
    const linked = await e.db.query<{ n: number }>(
      `select count(*)::int as n from reconciler_link_entities where entity_id = $1`,
      [note[0]!.id],
    );
    assert.equal(linked.rows[0]!.n, 0);

    const noted = await auditOf(e, item.linkId, 'assignee', 'noted');
    assert.equal(noted.length, 1);
    assert.equal(noted[0]!.action, 'note');
    assert.equal(noted[0]!.platform, 'linear');
    assert.equal(noted[0]!.targetId, item.linearId);
    assert.ok(noted[0]!.detail?.includes(note[0]!.id), `the comment id in ${noted[0]!.detail}`);
    const row = await e.db.query<{ status: string; attempts: number; comment_id: string }>(
      `select status, attempts, comment_id from item_notes where link_id = $1`,
      [item.linkId],
    );
    assert.deepEqual(row.rows, [{ status: 'posted', attempts: 3, comment_id: note[0]!.id }]);
    assert.equal(await egressMetric(e, 'linear', 'lockstep_egress_notes_total', { result: 'posted' }), 1);
    assert.equal(await egressMetric(e, 'linear', 'lockstep_egress_notes_total', { result: 'retried' }), 2);
    assert.deepEqual(await deadLetters(e), [], 'the failed posts dead-lettered nothing');
    // Jira still holds Frank: the note changed nothing about the item's fields.
    assert.equal((await jiraIssue(jira, item.key)).fields.assignee?.accountId, FRANK.jira);
    // The status report counts it, and has no notes issue (nothing was given up).
    const report = await lockstep(e, ['report', '--json']);
    const r = JSON.parse(report.stdout) as Report;
    assert.deepEqual(r.stats.notes, { linear: { pending: 0, posted: 1, failed: 0 } }, report.stderr);
    assert.deepEqual(
      r.issues.filter((i) => i.code === 'notes_failed' || i.message.includes('notes on items')),
      [],
    );
  });
});

describe('with the flow’s notes: none, no comment (end to end)', { timeout: 600_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E({ notes: 'none' });
    addFrank(e);
  });
  after(async () => {
    await e?.stop();
  });

  it('the field is audited as unresolvable, and the Linear issue gets no comment', async () => {
    const item = await syncFrankIssue(e, 'Notes off: assigned to Frank');
    await settled(e);
    assert.deepEqual(await linearComments(e.linearAs('alice'), item.linearId), []);
    const rows = await e.db.query<{ n: number }>('select count(*)::int as n from item_notes');
    assert.equal(rows.rows[0]!.n, 0);
    assert.equal(await egressMetric(e, 'linear', 'lockstep_egress_notes_total', { result: 'posted' }), 0);
    // Nothing posted on the Linear issue by anyone: the ledger has no comment create.
    const creates = e.linearEmu.ledger.list().filter((x) => x.operation === 'commentCreate');
    assert.equal(creates.length, 0);
  });
});
