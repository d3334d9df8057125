/**
 * People whose Jira profile hides their email, end to end on the real stack with the Linear and
 * Jira emulators (the emulator's `hideEmail`: Jira knows the email and shows it to nobody, and its
 * user search does not find them by it).
 *
 *  - Dana has a `people:` entry by her Jira account id, `{ email: dana@example.com, jira: <id> }`:
 *    it carries her both ways.
 *  - Eve has none: a Jira issue assigned to her reaches Linear unassigned, and the Linear issue gets
 *    exactly one Lockstep note naming her and saying why (her email is hidden by her Jira privacy
 *    settings; add a `people:` entry) — whether the issue was made assigned to her or assigned to
 *    her later, and however often it is edited after. Jira keeps Eve.
 *  - Gus is on Linear with gus@example.com, the email his Jira profile hides: a Linear issue
 *    assigned to him reaches Jira unassigned (the email search finds nobody), and the Jira issue
 *    gets one Lockstep note saying so.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LinearClient } from '@linear/sdk';
import type { Version3Client } from 'jira.js';
import { reconcilerMetric } from './faults-support.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import { jiraIssue, jiraIssues, linearIds, linearIssues } from './helpers.ts';

const DANA = { jira: '712020:e2e-dana', linear: 'e2e-linear-user-dana', email: 'dana@example.com' };
const EVE = { jira: '712020:e2e-eve', email: 'eve@example.com', name: 'Eve Example' };
const GUS = { jira: '712020:e2e-gus', linear: 'e2e-linear-user-gus', email: 'gus@example.com' };
const NOTE_MARKER = /lockstep-note:[0-9a-f]{32}/;

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

const linearNotes = async (e: E2E, issueId: string) =>
  (await linearComments(e.linearAs('alice'), issueId)).filter((c) => NOTE_MARKER.test(c.body));

type Adf = { type: string; text?: string; content?: Adf[] };
// A note's ADF splits a sentence into runs (strong, code): read it as text, one line a paragraph.
const adfText = (n: Adf): string =>
  n.text ?? (n.content ?? []).map(adfText).join(n.type === 'doc' ? '\n' : '');

/** The Lockstep notes on a Jira issue, as text. */
async function jiraNotes(jira: Version3Client, key: string): Promise<string[]> {
  const r = await jira.issueComments.getComments({ issueIdOrKey: key });
  return (r.comments ?? []).map((c) => adfText(c.body as Adf)).filter((b) => NOTE_MARKER.test(b));
}

/**
 * The notes about the assignee only. A Linear issue starts in Backlog with no priority, which the
 * test world's Jira can hold neither of (no backlog transition, no priority for none): Jira gets a
 * status and a priority note for it as well, rightly, and those are not this file's subject.
 */
const assigneeNotes = async (jira: Version3Client, key: string) =>
  (await jiraNotes(jira, key)).filter((n) => n.startsWith('Lockstep could not sync the assignee'));

/** The note on the Linear issue says who Eve is, why Lockstep cannot carry her, and the fix. */
function assertEveNote(body: string): void {
  assert.match(body, /could not sync the assignee of this Linear item/);
  assert.match(
    body,
    /Eve Example \(Jira Cloud user 712020:e2e-eve\)/,
    'named by display name and account id',
  );
  assert.match(body, /hidden by their Jira privacy settings/, 'why');
  assert.match(body, /is left unassigned/);
  assert.match(body, /`people`/, 'how to fix it');
  assert.ok(body.includes("jira: '712020:e2e-eve'"), `the entry to add, in ${body}`);
  assert.doesNotMatch(body, /eve@example\.com/, 'Jira never told Lockstep her email');
}

describe('people whose Jira profile hides their email (end to end)', { timeout: 600_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E({ notes: 'comment', people: [{ email: DANA.email, jira: DANA.jira }] });
    // Jira knows each one's email and shows it to nobody; Linear shows Dana's and Gus's.
    for (const [id, name, email] of [
      [DANA.jira, 'Dana Example', DANA.email],
      [EVE.jira, EVE.name, EVE.email],
      [GUS.jira, 'Gus Example', GUS.email],
    ] as const) {
      e.jiraEmu.kit.actors.add({ id, name, email, isBot: false, tokens: [`e2e-jira-token-${id}`] });
      e.jiraEmu.jira.setEmailHidden(id);
    }
    for (const [id, name, email] of [
      [DANA.linear, 'Dana Example', DANA.email],
      [GUS.linear, 'Gus Example', GUS.email],
    ] as const)
      e.linearEmu.kit.actors.add({ id, name, email, isBot: false, tokens: [`e2e-linear-token-${id}`] });
  });
  after(async () => {
    await e?.stop();
  });

  it('Jira gives none of them away by email: not in their user objects, not in a search by it', async () => {
    const jira = e.jiraAs('carol');
    for (const p of [DANA, EVE, GUS]) {
      assert.deepEqual(await jira.userSearch.findUsers({ query: p.email }), [], p.email);
      const [u] = await jira.userSearch.findUsers({ accountId: p.jira });
      assert.equal(u?.accountId, p.jira);
      assert.equal(u?.emailAddress, undefined);
    }
  });

  it('a Jira issue assigned to Dana reaches Linear assigned to Dana, by the override', async () => {
    const jira = e.jiraAs('carol');
    await jira.issues.createIssue({
      fields: {
        project: { key: 'ENG' },
        issuetype: { name: 'Task' },
        summary: 'People: assigned in Jira',
        assignee: { accountId: DANA.jira },
      },
    });
    const mirrored = await eventually('the Jira issue in Linear', async () =>
      (await linearIssues(e.linearAs('alice'))).find((i) => i.title === 'People: assigned in Jira'),
    );
    assert.equal(mirrored.assignee?.email, DANA.email);
    await settled(e);
    // Nothing came back to Jira: the echo from Linear (Dana by email) is the same person key.
    const key = (await jiraIssues(jira)).find((i) => i.fields.summary === 'People: assigned in Jira')?.key;
    assert.ok(key);
    assert.equal((await jiraIssue(jira, key)).fields.assignee?.accountId, DANA.jira);
    assert.deepEqual(await linearNotes(e, mirrored.id), [], 'carried: nothing to note');
  });

  it('a Linear issue assigned to Dana reaches Jira assigned to her account, by the override', async () => {
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    await bob.createIssue({
      teamId: ids.teamId,
      title: 'People: assigned in Linear',
      assigneeId: DANA.linear,
    });
    const jira = e.jiraAs('carol');
    const mirrored = await eventually('the Linear issue in Jira, assigned', async () => {
      const i = (await jiraIssues(jira)).find((x) => x.fields.summary === 'People: assigned in Linear');
      return i && (await jiraIssue(jira, i.key)).fields.assignee ? i : undefined;
    });
    const issue = await jiraIssue(jira, mirrored.key);
    assert.equal(issue.fields.assignee?.accountId, DANA.jira);
    assert.equal(issue.fields.assignee?.emailAddress, undefined, 'Jira still hides her email');
    await settled(e);
    const linear = (await linearIssues(bob)).find((i) => i.title === 'People: assigned in Linear');
    assert.equal(linear?.assignee?.email, DANA.email, 'the echo from Jira did not unassign Linear');
    assert.deepEqual(await assigneeNotes(jira, mirrored.key), [], 'carried: no assignee note');
  });

  it('a Jira issue made assigned to Eve (no override) is unassigned in Linear, with exactly one note saying why', async () => {
    const before = await reconcilerMetric(e, 'lockstep_reconciler_notes_total', { code: 'person_unmatched' });
    const jira = e.jiraAs('carol');
    const created = await jira.issues.createIssue({
      fields: {
        project: { key: 'ENG' },
        issuetype: { name: 'Task' },
        summary: 'People: assigned to Eve',
        assignee: { accountId: EVE.jira },
      },
    });
    const mirrored = await eventually('the Eve issue in Linear', async () =>
      (await linearIssues(e.linearAs('alice'))).find((i) => i.title === 'People: assigned to Eve'),
    );
    assert.equal(mirrored.assignee, null);
    const [note] = await eventually('the Lockstep note on the Linear issue', async () => {
      const notes = await linearNotes(e, mirrored.id);
      return notes.length > 0 ? notes : undefined;
    });
    assertEveNote(note!.body);
    assert.ok(
      (await reconcilerMetric(e, 'lockstep_reconciler_notes_total', { code: 'person_unmatched' })) > before,
      'the reconciler still counts person_unmatched',
    );

    // More edits in Jira, Eve still assigned: still one note.
    await jira.issues.editIssue({ issueIdOrKey: created.key, fields: { summary: 'People: Eve, renamed' } });
    await eventually('the rename in Linear', async () =>
      (await linearIssues(e.linearAs('alice'))).find((i) => i.title === 'People: Eve, renamed'),
    );
    await settled(e);
    assert.equal((await linearNotes(e, mirrored.id)).length, 1, 'exactly one note');
    assert.equal((await linearIssues(e.linearAs('alice'))).find((i) => i.id === mirrored.id)?.assignee, null);
    // Jira keeps Eve, and has no note of its own: the unassigned Linear echo is not a person's change.
    assert.equal((await jiraIssue(jira, created.key)).fields.assignee?.accountId, EVE.jira);
    assert.deepEqual(await jiraNotes(jira, created.key), []);
  });

  it('a Jira issue assigned to Eve later (Linear already unassigned) gets the same one note', async () => {
    const jira = e.jiraAs('carol');
    const created = await jira.issues.createIssue({
      fields: { project: { key: 'ENG' }, issuetype: { name: 'Task' }, summary: 'People: Eve later' },
    });
    const mirrored = await eventually('the unassigned issue in Linear', async () =>
      (await linearIssues(e.linearAs('alice'))).find((i) => i.title === 'People: Eve later'),
    );
    await settled(e);
    assert.deepEqual(await linearNotes(e, mirrored.id), [], 'unassigned is nothing to note');
    await jira.issues.editIssue({ issueIdOrKey: created.key, fields: { assignee: { accountId: EVE.jira } } });
    const [note] = await eventually('the Lockstep note after assigning Eve', async () => {
      const notes = await linearNotes(e, mirrored.id);
      return notes.length > 0 ? notes : undefined;
    });
    assertEveNote(note!.body);
    await jira.issues.editIssue({
      issueIdOrKey: created.key,
      fields: { summary: 'People: Eve later, renamed' },
    });
    await eventually('the rename in Linear', async () =>
      (await linearIssues(e.linearAs('alice'))).find((i) => i.title === 'People: Eve later, renamed'),
    );
    await settled(e);
    assert.equal((await linearNotes(e, mirrored.id)).length, 1, 'exactly one note');
    assert.equal((await linearIssues(e.linearAs('alice'))).find((i) => i.id === mirrored.id)?.assignee, null);
    assert.equal((await jiraIssue(jira, created.key)).fields.assignee?.accountId, EVE.jira);
  });

  it('a Linear issue assigned to Gus (his Jira email hidden, no override) is unassigned in Jira, with one note', async () => {
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    await bob.createIssue({ teamId: ids.teamId, title: 'People: assigned to Gus', assigneeId: GUS.linear });
    const jira = e.jiraAs('carol');
    const mirrored = await eventually('the Gus issue in Jira', async () =>
      (await jiraIssues(jira)).find((x) => x.fields.summary === 'People: assigned to Gus'),
    );
    const [note] = await eventually('the Lockstep assignee note on the Jira issue', async () => {
      const notes = await assigneeNotes(jira, mirrored.key);
      return notes.length > 0 ? notes : undefined;
    });
    assert.match(note!, /could not sync the assignee of this Jira Cloud item/);
    assert.match(note!, /no Jira user shows the email gus@example\.com/);
    assert.match(note!, /does not find a user by an email their profile visibility hides/);
    assert.ok(note!.includes('{ email: gus@example.com, jira: <their Jira Cloud user id> }'), note);
    await settled(e);
    assert.equal((await jiraIssue(jira, mirrored.key)).fields.assignee ?? null, null);
    assert.equal((await assigneeNotes(jira, mirrored.key)).length, 1, 'exactly one assignee note');
    const linear = (await linearIssues(bob)).find((i) => i.title === 'People: assigned to Gus');
    assert.equal(linear?.assignee?.email, GUS.email, 'Linear keeps Gus');
  });
});
