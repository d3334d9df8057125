/**
 * Both sides edit the same field concurrently; the field's policy settles it (DESIGN.md, "The
 * reconciler's rules"). Concurrency is made deterministic: with egress-jira killed, a person edits
 * the field in Linear, the reconciler commands Jira (the command waits in Kafka), then another person
 * edits the same field in Jira. The reconciler sees Jira move while its own write to Jira is still
 * in flight — a conflict — and settles it by the policy. One world, one policy per field:
 *   title: last-write-wins (the flow default), priority: prefer [linear, jira],
 *   labels + description: merge, dueDate: manual.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Conflict, WriteCommand } from '../../schemas/generated/types.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import { botCalls, jiraIssues, lastSeq, linearIds, writes } from './helpers.ts';
import {
  adfParagraphs,
  jiraIssue,
  linearIssue,
  recordTopics,
  type TopicRecorder,
} from './conflicts-support.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'lockstep.mjs');
const P1 = 'The export runs nightly.';
const P2 = 'It writes one CSV per team.';
const P3 = 'Files are kept for a week.';

interface Item {
  title: string;
  linearId: string;
  jiraKey: string;
  linkId: string;
}
type Case = 'lww' | 'prefer' | 'merge' | 'manual';

describe('concurrent edits of one field are settled by its policy (end to end)', { timeout: 600_000 }, () => {
  let e: E2E;
  let rec: TopicRecorder;
  const items = {} as Record<Case, Item>;
  // Wall-clock windows around each side's edits: the emulators stamp platform times from this clock.
  const linearEdit = { from: 0, to: 0 };
  const jiraEdit = { from: 0, to: 0 };

  const conflictFor = (c: Case, field: string, status?: Conflict['status']): Conflict | undefined =>
    rec.conflicts.findLast(
      (x) => x.linkId === items[c].linkId && x.field === field && (!status || x.status === status),
    );
  const lockstep = async (...args: string[]) =>
    (
      await promisify(execFile)(process.execPath, [BIN, ...args, '-c', e.pipeline.configFile], {
        env: process.env,
        timeout: 60_000,
      })
    ).stdout;

  before(async () => {
    e = await startE2E({
      fields: {
        default: 'last-write-wins',
        priority: { prefer: ['linear', 'jira'] },
        labels: 'merge',
        description: 'merge',
        dueDate: 'manual',
      },
    });
    rec = await recordTopics(e);
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    const titles: Record<Case, string> = {
      lww: 'Conflict LWW: search is slow',
      prefer: 'Conflict prefer: login times out',
      merge: 'Conflict merge: nightly CSV export',
      manual: 'Conflict manual: release checklist',
    };
    for (const [c, title] of Object.entries(titles) as [Case, string][]) {
      const created = await bob.createIssue({
        teamId: ids.teamId,
        title,
        description: `${P1}\n\n${P2}\n\n${P3}`,
        priority: 3,
        labelIds: [ids.label('improvement')],
        dueDate: '2030-01-15',
      });
      const issue = await created.issue;
      assert.ok(issue, `creating ${title} in Linear`);
      items[c] = { title, linearId: issue.id, jiraKey: '', linkId: '' };
    }
    const jira = e.jiraAs('carol');
    for (const item of Object.values(items)) {
      const j = await eventually(`${item.title} in Jira`, async () =>
        (await jiraIssues(jira)).find((i) => i.fields.summary === item.title),
      );
      item.jiraKey = j.key;
      const row = await e.db.query<{ link_id: string }>(
        `select link_id from reconciler_link_entities where flow_id = 'eng' and platform = 'linear' and entity_id = $1`,
        [item.linearId],
      );
      assert.equal(row.rowCount, 1, `one link for ${item.title}`);
      item.linkId = row.rows[0]!.link_id;
    }
    await settled(e);
  });

  after(async () => {
    await rec?.stop();
    await e?.stop();
  });

  it('both sides edit while egress-jira is down: Jira’s edit meets the reconciler’s write in flight', async () => {
    const bob = e.linearAs('bob');
    const jira = e.jiraAs('carol');
    const ids = await linearIds(bob);
    for (const item of Object.values(items)) {
      const j = await jiraIssue(jira, item.jiraKey);
      assert.deepEqual(j.paragraphs, [P1, P2, P3], `${item.title}: description as created`);
      assert.deepEqual(j.labels, ['improvement']);
      assert.equal(j.duedate, '2030-01-15');
      assert.equal(j.priority, 'Medium');
    }
    const none = await e.db.query('select conflict_id from reconciler_conflicts');
    assert.equal(none.rowCount, 0, 'no conflict before the concurrent edits');

    await e.kill('egress-jira');
    linearEdit.from = Date.now();
    await bob.updateIssue(items.lww.linearId, { title: 'Search is slow (Linear)' });
    await bob.updateIssue(items.prefer.linearId, { priority: 1 });
    await bob.updateIssue(items.merge.linearId, {
      labelIds: [ids.label('improvement'), ids.label('bug')],
      description: `The export runs nightly at 02:00.\n\n${P2}\n\n${P3}`,
    });
    await bob.updateIssue(items.manual.linearId, { dueDate: '2030-02-01' });
    linearEdit.to = Date.now();

    // The reconciler has accepted each Linear edit and commanded Jira; the commands wait in Kafka.
    const commanded = (c: Case, ok: (cmd: WriteCommand) => boolean) =>
      rec.commands.some((cmd) => cmd.linkId === items[c].linkId && cmd.action === 'update' && ok(cmd));
    await eventually(
      'the four commands to Jira',
      async () =>
        commanded('lww', (c) => c.fields.title === 'Search is slow (Linear)') &&
        commanded('prefer', (c) => c.fields.priority === 'urgent') &&
        commanded(
          'merge',
          (c) => c.fields.labels?.includes('bug') === true && /02:00/.test(c.fields.description ?? ''),
        ) &&
        commanded('manual', (c) => c.fields.dueDate === '2030-02-01'),
    );

    jiraEdit.from = Date.now();
    await jira.issues.editIssue({
      issueIdOrKey: items.lww.jiraKey,
      fields: { summary: 'Search is slow (Jira)' },
    });
    await jira.issues.editIssue({
      issueIdOrKey: items.prefer.jiraKey,
      fields: { priority: { name: 'Low' } },
    });
    await jira.issues.editIssue({
      issueIdOrKey: items.merge.jiraKey,
      fields: {
        labels: ['improvement', 'feature'],
        description: adfParagraphs([P1, P2, 'Files are kept for a month.']),
      },
    });
    await jira.issues.editIssue({ issueIdOrKey: items.manual.jiraKey, fields: { duedate: '2030-03-01' } });
    jiraEdit.to = Date.now();

    // Jira's edits reach the reconciler while its writes to Jira are still in flight: five conflicts.
    await eventually('a conflict per edited field', async () =>
      [
        conflictFor('lww', 'title'),
        conflictFor('prefer', 'priority'),
        conflictFor('merge', 'labels'),
        conflictFor('merge', 'description'),
        conflictFor('manual', 'dueDate'),
      ].every(Boolean),
    );

    await e.restart('egress-jira');
    // The restarted egress rejoins its group (after the killed member's session expires) and
    // answers every command that waited: each one gets an outcome.
    await eventually(
      'an outcome for every command to Jira',
      async () =>
        rec.commands.every((cmd) =>
          rec.outcomes.some((o) => o.commandId === cmd.commandId || o.coalesced.includes(cmd.commandId)),
        ),
      90_000,
    );
    await settled(e);
    // Only the conflicts above: no other field of these issues conflicted.
    assert.deepEqual(
      rec.conflicts
        .map((c) => `${Object.entries(items).find(([, i]) => i.linkId === c.linkId)?.[0]}:${c.field}`)
        .sort(),
      ['lww:title', 'manual:dueDate', 'merge:description', 'merge:labels', 'prefer:priority'],
    );
    // The reconciler's own table agrees: four settled by their policies, one held open.
    const rows = await e.db.query<{ field: string; status: string }>(
      'select field, status from reconciler_conflicts order by field',
    );
    assert.deepEqual(
      rows.rows.map((r) => `${r.field}:${r.status}`),
      ['description:resolved', 'dueDate:open', 'labels:resolved', 'priority:resolved', 'title:resolved'],
    );
  });

  it('last-write-wins: the later platform time (Jira’s) wins on both sides; the Conflict shows both times', async () => {
    const c = conflictFor('lww', 'title');
    assert.ok(c);
    assert.equal(c.policy, 'last-write-wins');
    assert.equal(c.status, 'resolved');
    assert.equal(c.resolvedBy, 'policy:last-write-wins');
    assert.equal(c.baseJson, JSON.stringify(items.lww.title));
    assert.equal(c.resolutionJson, JSON.stringify('Search is slow (Jira)'));
    const l = c.sides.find((s) => s.platform === 'linear');
    const j = c.sides.find((s) => s.platform === 'jira');
    assert.ok(l && j);
    assert.equal(l.valueJson, JSON.stringify('Search is slow (Linear)'));
    assert.equal(j.valueJson, JSON.stringify('Search is slow (Jira)'));
    assert.equal(l.entityId, items.lww.linearId);
    assert.ok(l.tsMs >= linearEdit.from && l.tsMs <= linearEdit.to, `Linear time ${l.tsMs} within its edit`);
    assert.ok(j.tsMs >= jiraEdit.from && j.tsMs <= jiraEdit.to, `Jira time ${j.tsMs} within its edit`);
    assert.ok(j.tsMs > l.tsMs);

    assert.equal((await linearIssue(e.linearAs('alice'), items.lww.linearId)).title, 'Search is slow (Jira)');
    assert.equal((await jiraIssue(e.jiraAs('alice'), items.lww.jiraKey)).summary, 'Search is slow (Jira)');
  });

  it('prefer [linear, jira]: Linear’s value wins on both sides although Jira’s edit is later', async () => {
    const c = conflictFor('prefer', 'priority');
    assert.ok(c);
    assert.equal(c.policy, 'prefer:linear>jira');
    assert.equal(c.status, 'resolved');
    assert.equal(c.baseJson, JSON.stringify('medium'));
    assert.equal(c.resolutionJson, JSON.stringify('urgent'));
    const l = c.sides.find((s) => s.platform === 'linear');
    const j = c.sides.find((s) => s.platform === 'jira');
    assert.ok(l && j);
    assert.equal(l.valueJson, JSON.stringify('urgent'));
    assert.equal(j.valueJson, JSON.stringify('low'));
    assert.ok(j.tsMs > l.tsMs, 'Jira’s edit is the later one, and still loses');

    assert.equal((await linearIssue(e.linearAs('alice'), items.prefer.linearId)).priority, 1);
    assert.equal((await jiraIssue(e.jiraAs('alice'), items.prefer.jiraKey)).priority, 'Highest');
  });

  it('merge: labels three-way set merge (bug + feature on both); description line merge of non-overlapping edits', async () => {
    const labels = conflictFor('merge', 'labels');
    assert.ok(labels);
    assert.equal(labels.policy, 'merge');
    assert.equal(labels.status, 'resolved');
    assert.equal(labels.baseJson, JSON.stringify(['improvement']));
    assert.equal(labels.resolutionJson, JSON.stringify(['bug', 'feature', 'improvement']));
    const description = conflictFor('merge', 'description');
    assert.ok(description);
    assert.equal(description.status, 'resolved');
    const merged = `The export runs nightly at 02:00.\n\n${P2}\n\nFiles are kept for a month.`;
    assert.equal(description.resolutionJson, JSON.stringify(merged));

    const l = await linearIssue(e.linearAs('alice'), items.merge.linearId);
    assert.deepEqual(l.labels, ['bug', 'feature', 'improvement']);
    assert.equal(l.description, merged);
    const j = await jiraIssue(e.jiraAs('alice'), items.merge.jiraKey);
    assert.deepEqual(j.labels, ['bug', 'feature', 'improvement']);
    assert.deepEqual(j.paragraphs, ['The export runs nightly at 02:00.', P2, 'Files are kept for a month.']);
  });

  it('manual: an open Conflict with both values and times; the field is held; resolve --take jira converges both', async () => {
    const c = conflictFor('manual', 'dueDate');
    assert.ok(c);
    assert.equal(c.policy, 'manual');
    assert.equal(c.status, 'open');
    assert.equal(c.resolutionJson, null);
    assert.equal(c.resolvedBy, null);
    assert.equal(c.baseJson, JSON.stringify('2030-01-15'));
    const ls = c.sides.find((s) => s.platform === 'linear');
    const js = c.sides.find((s) => s.platform === 'jira');
    assert.ok(ls && js);
    assert.equal(ls.valueJson, JSON.stringify('2030-02-01'));
    assert.equal(js.valueJson, JSON.stringify('2030-03-01'));
    assert.equal(ls.entityId, items.manual.linearId);
    assert.equal(js.entityId, (await jiraIssue(e.jiraAs('alice'), items.manual.jiraKey)).id);
    assert.ok(ls.tsMs >= linearEdit.from && ls.tsMs <= linearEdit.to);
    assert.ok(js.tsMs >= jiraEdit.from && js.tsMs <= jiraEdit.to);

    // Held: each side keeps its own value (the write to Jira computed before Carol's edit was refused).
    assert.equal((await linearIssue(e.linearAs('alice'), items.manual.linearId)).dueDate, '2030-02-01');
    assert.equal((await jiraIssue(e.jiraAs('alice'), items.manual.jiraKey)).duedate, '2030-03-01');

    // A further edit on one side does not propagate while the field is held.
    const jSince = lastSeq(e, 'jira');
    await e.linearAs('bob').updateIssue(items.manual.linearId, { dueDate: '2030-04-01' });
    await settled(e);
    assert.deepEqual(writes(botCalls(e, 'jira', jSince), 'jira'), []);
    assert.equal((await jiraIssue(e.jiraAs('alice'), items.manual.jiraKey)).duedate, '2030-03-01');
    assert.equal(rec.conflicts.filter((x) => x.conflictId === c.conflictId).length, 1);

    // `lockstep conflicts list --json` shows it, open.
    const listed = (await lockstep('conflicts', 'list', '--json'))
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Conflict);
    assert.deepEqual(
      listed.map((x) => [x.conflictId, x.field, x.status]),
      [[c.conflictId, 'dueDate', 'open']],
    );

    const out = await lockstep('conflicts', 'resolve', c.conflictId, '--take', 'jira');
    assert.match(out, new RegExp(`resolved ${c.conflictId}: dueDate = "2030-03-01"; writing to linear`));
    await eventually(
      'Linear takes Jira’s due date',
      async () => (await linearIssue(e.linearAs('alice'), items.manual.linearId)).dueDate === '2030-03-01',
    );
    await settled(e);
    assert.equal((await linearIssue(e.linearAs('alice'), items.manual.linearId)).dueDate, '2030-03-01');
    assert.equal((await jiraIssue(e.jiraAs('alice'), items.manual.jiraKey)).duedate, '2030-03-01');
    const resolved = conflictFor('manual', 'dueDate', 'resolved');
    assert.ok(resolved, 'the resolution is published on the conflicts topic');
    assert.equal(resolved.conflictId, c.conflictId);
    assert.equal(resolved.resolutionJson, JSON.stringify('2030-03-01'));
    assert.equal(resolved.resolvedBy, 'cli');
    assert.equal((await lockstep('conflicts', 'list', '--json')).trim(), '');

    // Released: the field syncs again.
    await e.linearAs('bob').updateIssue(items.manual.linearId, { dueDate: '2030-05-01' });
    await eventually(
      'the next due date edit reaches Jira',
      async () => (await jiraIssue(e.jiraAs('alice'), items.manual.jiraKey)).duedate === '2030-05-01',
    );
  });

  it('settles: no further API calls once every conflict is settled', async () => {
    await settled(e);
    const l = lastSeq(e, 'linear');
    const j = lastSeq(e, 'jira');
    await settled(e); // a loop would keep work pending or make calls here
    assert.deepEqual(botCalls(e, 'linear', l), []);
    assert.deepEqual(botCalls(e, 'jira', j), []);
  });
});
