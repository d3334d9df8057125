/** The visible notes' pure parts: the once-key, which skipped fields get a note, and the wording. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WriteCommand } from '../../schemas/generated/types.ts';
import { noteIdIn } from '../connectors/kit/notes.ts';
import { entityState, type NoteRun, type SkippedField } from '../connectors/types.ts';
import { describeValue, noteAuditRecord, noteId, noteParagraphs, notesFor } from './notes.ts';

const FRANK = { email: 'Frank@Example.com', platformUserId: '712020:frank', displayName: 'Frank' };

const cmd = (over: Partial<WriteCommand> = {}): WriteCommand => ({
  commandId: 'cmd-1',
  linkId: 'link-1',
  flowId: 'eng',
  platform: 'linear',
  workspace: 'ENG',
  action: 'update',
  entityType: 'issue',
  targetId: 'lin-1',
  parentId: null,
  fields: entityState({ assignee: FRANK, title: 'T' }),
  base: null,
  marker: null,
  causedBy: null,
  unresolved: [],
  cause: {
    kind: 'event',
    ref: 'ev-1',
    platform: 'jira',
    workspace: 'ENG',
    entityId: '10001',
    entityKey: 'ENG-7',
    actor: { email: 'carol@example.com', platformUserId: '712020:carol', displayName: 'Carol' },
    actorIsLockstep: false,
    via: 'webhook',
    changedAtMs: 0,
  },
  createdAtMs: 0,
  ...over,
});

const unresolvable = (field: string): SkippedField => ({
  field,
  reason: 'unresolvable',
  detail: `no Linear user with email frank@example.com`,
});
const names = { platformName: 'Linear', nameOf: (p: string) => (p === 'jira' ? 'Jira Cloud' : null) };
const text = (ps: NoteRun[][]) => ps.map((p) => p.map((r) => r.text).join('')).join('\n');

describe('noteId: once per link + platform + field + value', () => {
  it('is the same for the same person however the write names them (email case, display name, id)', () => {
    const a = noteId('link-1', 'linear', 'assignee', FRANK);
    assert.equal(
      a,
      noteId('link-1', 'linear', 'assignee', {
        email: 'frank@example.com',
        platformUserId: null,
        displayName: null,
      }),
    );
    assert.match(a, /^[0-9a-f]{32}$/);
  });
  it('differs for another value, field, link or platform', () => {
    const a = noteId('link-1', 'linear', 'assignee', FRANK);
    const others = [
      noteId('link-1', 'linear', 'assignee', { ...FRANK, email: 'eve@example.com' }),
      noteId('link-1', 'linear', 'author', FRANK),
      noteId('link-2', 'linear', 'assignee', FRANK),
      noteId('link-1', 'jira', 'assignee', FRANK),
    ];
    assert.equal(new Set([a, ...others]).size, 5);
  });
  it('tells statuses apart by name and category, a person without email by id', () => {
    const s = (name: string, category: 'done' | 'todo') => noteId('l', 'jira', 'status', { name, category });
    assert.notEqual(s('Shipped', 'done'), s('Released', 'done'));
    assert.equal(s('Shipped', 'done'), s('Shipped', 'done'));
    const p = (id: string) =>
      noteId('l', 'jira', 'assignee', { email: null, platformUserId: id, displayName: null });
    assert.notEqual(p('u1'), p('u2'));
  });
});

describe('notesFor: which fields of a write get a note', () => {
  it('one per unresolvable field, none for stale or follow-up skips', () => {
    const skipped: SkippedField[] = [
      unresolvable('assignee'),
      unresolvable('assignee'),
      { field: 'title', reason: 'stale_base', detail: 'x' },
      { field: 'status', reason: 'follow_up_failed', detail: 'x' },
    ];
    const notes = notesFor(cmd(), { targetId: 'lin-1', targetKey: 'ENG-3' }, skipped, names);
    assert.equal(notes.length, 1);
    assert.equal(notes[0]!.field, 'assignee');
    assert.equal(notes[0]!.targetKey, 'ENG-3');
    assert.equal(notes[0]!.noteId, noteId('link-1', 'linear', 'assignee', FRANK));
    assert.equal(notes[0]!.valueJson, JSON.stringify(FRANK));
    assert.equal(noteIdIn(text(notes[0]!.paragraphs)), notes[0]!.noteId, 'the body carries its marker');
  });
  it('none on a comment, a delete, or a write without a target', () => {
    const s = [unresolvable('assignee')];
    assert.deepEqual(
      notesFor(cmd({ entityType: 'comment' }), { targetId: 'c', targetKey: null }, s, names),
      [],
    );
    assert.deepEqual(notesFor(cmd({ action: 'delete' }), { targetId: 'x', targetKey: null }, s, names), []);
    assert.deepEqual(notesFor(cmd(), { targetId: '', targetKey: null }, s, names), []);
  });
});

describe('a person the reconciler could not match (WriteCommand.unresolved)', () => {
  const EVE = { email: null, platformUserId: '712020:eve', displayName: 'Eve Example' };
  const reason =
    'Eve Example on jira has no email to match across platforms (their email is hidden by their Jira privacy settings) and no `people` entry for jira id 712020:eve';
  const unassigned = (over: Partial<WriteCommand> = {}) =>
    cmd({
      fields: entityState({ assignee: null }),
      unresolved: [{ field: 'assignee', platform: 'jira', person: EVE, reason }],
      ...over,
    });

  it('gets one note, keyed by who they are where they were read, saying why and how to fix it', () => {
    const notes = notesFor(unassigned(), { targetId: 'lin-1', targetKey: 'ENG-3' }, [], names);
    assert.equal(notes.length, 1);
    const n = notes[0]!;
    assert.equal(n.field, 'assignee');
    assert.equal(n.noteId, noteId('link-1', 'linear', 'assignee', EVE));
    assert.notEqual(n.noteId, noteId('link-1', 'linear', 'assignee', null), 'not keyed by the null written');
    assert.equal(n.valueJson, JSON.stringify(EVE));
    const body = text(n.paragraphs);
    assert.match(body, /could not sync the assignee of this Linear item/);
    assert.match(
      body,
      /The value Eve Example \(Jira Cloud user 712020:eve\) comes from Jira Cloud ENG-7 \(set by Carol\)/,
    );
    assert.ok(body.includes(`cannot tell who that is in Linear: ${reason}.`), body);
    assert.match(body, /The assignee here is left unassigned\./);
    assert.ok(body.includes("{ email: <their email>, jira: '712020:eve' }"), body);
    assert.ok(body.includes("{ name: …, jira: '712020:eve', linear: <their Linear user id> }"), body);
    assert.equal(noteIdIn(body), n.noteId);
  });

  it('the same person on a later command is the same note; another person is another', () => {
    const again = notesFor(
      unassigned({ commandId: 'cmd-2' }),
      { targetId: 'lin-1', targetKey: null },
      [],
      names,
    );
    const first = notesFor(unassigned(), { targetId: 'lin-1', targetKey: null }, [], names);
    assert.equal(again[0]!.noteId, first[0]!.noteId);
    const other = notesFor(
      unassigned({
        unresolved: [
          { field: 'assignee', platform: 'jira', person: { ...EVE, platformUserId: '712020:ivy' }, reason },
        ],
      }),
      { targetId: 'lin-1', targetKey: null },
      [],
      names,
    );
    assert.notEqual(other[0]!.noteId, first[0]!.noteId);
  });

  it('a field the connector also skipped is noted once, for the connector’s reason', () => {
    const notes = notesFor(
      unassigned(),
      { targetId: 'lin-1', targetKey: null },
      [unresolvable('assignee')],
      names,
    );
    assert.equal(notes.length, 1);
    assert.match(text(notes[0]!.paragraphs), /no Linear user with email frank@example\.com/);
  });

  it('none on a comment or a delete, like any note', () => {
    assert.deepEqual(
      notesFor(unassigned({ entityType: 'comment' }), { targetId: 'c', targetKey: null }, [], names),
      [],
    );
    assert.deepEqual(
      notesFor(unassigned({ action: 'delete' }), { targetId: 'x', targetKey: null }, [], names),
      [],
    );
  });
});

describe('the wording', () => {
  it('names the field, the value, where it came from, and the people entry that fixes it', () => {
    const w = text(
      notesFor(cmd(), { targetId: 'lin-1', targetKey: null }, [unresolvable('assignee')], names)[0]!
        .paragraphs,
    );
    assert.match(w, /could not sync the assignee of this Linear item/);
    assert.match(w, /The value Frank <Frank@Example\.com> comes from Jira Cloud ENG-7 \(set by Carol\)/);
    assert.match(w, /no Linear user with email frank@example\.com/);
    assert.match(
      w,
      /people in lockstep\.yaml: \{ email: Frank@Example\.com, linear: <their Linear user id> \}/,
    );
    assert.match(w, /once/);
  });
  it('points a status at the flow’s statusMap and a priority at its priorityMap', () => {
    const base = {
      value: { name: 'Shipped', category: 'done' },
      detail: 'no transition to Shipped',
      platformName: 'Jira Cloud',
      fromPlatformName: 'Linear',
      flowId: 'eng',
      platform: 'jira',
      cause: null,
      noteId: 'a'.repeat(32),
    };
    const status = text(noteParagraphs({ ...base, field: 'status' }));
    assert.match(status, /statusMap of flow eng/);
    assert.match(status, /jira: <status name>/);
    assert.match(status, /Shipped \(done\)/);
    assert.doesNotMatch(status, /comes from/, 'no cause, no origin');
    const priority = text(noteParagraphs({ ...base, field: 'priority', value: 'urgent' }));
    assert.match(priority, /priorityMap of flow eng/);
  });
  it('a value in words', () => {
    assert.equal(describeValue('assignee', { email: 'a@x', platformUserId: null, displayName: null }), 'a@x');
    assert.equal(
      describeValue('assignee', { email: null, platformUserId: 'u9', displayName: null }),
      'user u9',
    );
    assert.equal(describeValue('labels', ['a', 'b']), 'a, b');
    assert.equal(describeValue('priority', null), 'nothing');
  });
  it('code and strong runs are never empty', () => {
    const ps = notesFor(cmd(), { targetId: 'lin-1', targetKey: null }, [unresolvable('assignee')], names)[0]!
      .paragraphs;
    for (const r of ps.flat()) if (r.style) assert.ok(r.text.length > 0);
  });
});

describe('noteAuditRecord', () => {
  const n = notesFor(cmd(), { targetId: 'lin-1', targetKey: 'ENG-3' }, [unresolvable('assignee')], names)[0]!;
  it('a posted note names its comment; the record id is stable', () => {
    const r = noteAuditRecord(n, { posted: true, commentId: 'c-42' }, 1000);
    assert.equal(r.result, 'noted');
    assert.equal(r.action, 'note');
    assert.equal(r.field, 'assignee');
    assert.equal(r.commandId, 'cmd-1');
    assert.equal(r.targetKey, 'ENG-3');
    assert.match(r.detail ?? '', /comment c-42/);
    assert.equal(r.auditId, noteAuditRecord(n, { posted: true, commentId: 'c-42' }, 2000).auditId);
  });
  it('a failed note says why, one record per failure', () => {
    const r = noteAuditRecord(n, { posted: false, error: '500 Internal' }, 1000);
    assert.equal(r.result, 'note_failed');
    assert.match(r.detail ?? '', /500 Internal/);
    assert.notEqual(r.auditId, noteAuditRecord(n, { posted: false, error: 'x' }, 2000).auditId);
  });
});
