/**
 * apply against the Asana emulator (test/emulators/asana, test infrastructure — not Asana), through
 * the official asana SDK exactly as in production (client.ts).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { WriteCommand } from '../../../schemas/generated/types.ts';
import { EmulatorControl } from '../../../test/emulators/common/control-client.ts';
import { DEMO_TOKENS, demoSeed, startAsanaEmulator } from '../../../test/emulators/asana/index.ts';
import { noteIdIn, noteMarkerText } from '../kit/notes.ts';
import { entityState } from '../types.ts';
import { createAsanaApplier } from './apply.ts';
import { asanaApis } from './client.ts';
import { asanaConfigSchema, type AsanaConfig } from './config.ts';
import { classifyAsanaError } from './errors.ts';
import { markerIn } from './marker.ts';

const PROJECT = '1100000000000100';
const ALICE = '1100000000000011';
const BOB = '1100000000000012';
const WORKSPACE = '1100000000000001';

let emu: Awaited<ReturnType<typeof startAsanaEmulator>>;
let control: EmulatorControl;
let config: AsanaConfig;
before(async () => {
  emu = await startAsanaEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
  control = new EmulatorControl(emu.url);
  config = asanaConfigSchema.parse(rawConfig());
});
const rawConfig = () => ({
  accessToken: DEMO_TOKENS.bot,
  baseUrl: emu.apiUrl,
  projects: [PROJECT],
  statusCategories: { Backlog: 'backlog', 'To do': 'todo', 'In progress': 'in_progress', Done: 'done' },
});
after(() => emu.close());

const applier = (over: Partial<AsanaConfig> = {}) =>
  createAsanaApplier({ config: { ...config, ...over }, botUserId: null });
/** A client of our own, to look at what the applier left on the emulator. */
const look = () => asanaApis(config);

const cmd = (over: Partial<WriteCommand>): WriteCommand => ({
  commandId: `cmd-${Math.random().toString(36).slice(2)}`,
  linkId: 'link-1',
  flowId: 'flow-1',
  platform: 'asana',
  workspace: PROJECT,
  action: 'create',
  entityType: 'issue',
  targetId: null,
  parentId: null,
  fields: entityState({}),
  base: null,
  marker: null,
  causedBy: null,
  unresolved: [],
  cause: null,
  createdAtMs: Date.now(),
  ...over,
});

async function rawTask(gid: string) {
  const r = (await look().tasks.getTask(gid, {
    opt_fields: 'html_notes,completed,memberships.section.name',
  })) as { data: { html_notes: string; completed: boolean; memberships: { section: { name: string } }[] } };
  return r.data;
}

async function tasksWithMarker(marker: string): Promise<string[]> {
  const r = (await look().tasks.getTasks({ project: PROJECT, opt_fields: 'html_notes' })) as {
    data: { gid: string; html_notes: string }[];
  };
  return r.data.filter((t) => markerIn(t.html_notes) === marker).map((t) => t.gid);
}

const posts = (since: number, path: string) =>
  emu.ledger.list(since).filter((e) => e.method === 'POST' && e.path === path).length;
const lastSeq = () => emu.ledger.list().at(-1)?.seq ?? 0;

test('create writes the task with its marker line, assignee, due date and section; a repeat finds it', async () => {
  const a = applier();
  const fields = entityState({
    title: 'Synced from Linear',
    description: 'Hello **world**',
    status: { name: 'In progress', category: 'in_progress' },
    assignee: { email: 'alice@example.com', platformUserId: null, displayName: null },
    dueDate: '2031-02-03',
  });
  const first = await a.apply(cmd({ fields, marker: 'link-create-1' }));
  assert.equal(first.alreadyApplied, false);
  assert.match(first.targetId, /^\d+$/);
  assert.equal(first.targetKey, null);
  assert.deepEqual(first.skipped, []);
  assert.equal(first.written!.title, 'Synced from Linear');
  assert.equal(first.written!.description, 'Hello **world**', 'the marker line never shows');
  assert.deepEqual(first.written!.status, { name: 'In progress', category: 'in_progress' });
  assert.equal(first.written!.assignee?.platformUserId, ALICE);
  assert.equal(first.written!.assignee?.email, 'alice@example.com');
  assert.equal(first.written!.dueDate, '2031-02-03');
  assert.ok(first.platformVersion);
  assert.equal(first.platformTsMs, Date.parse(first.platformVersion));

  const raw = await rawTask(first.targetId);
  assert.match(raw.html_notes, /^<body>.*<strong>world<\/strong>.*\nlockstep-link:link-create-1<\/body>$/s);
  assert.equal(markerIn(raw.html_notes), 'link-create-1');
  assert.equal(raw.completed, false);
  assert.deepEqual(
    raw.memberships.map((m) => m.section.name),
    ['In progress'],
  );

  assert.deepEqual(
    await a.findByMarker({
      marker: 'link-create-1',
      entityType: 'issue',
      parentId: null,
      workspace: PROJECT,
      createdAfterMs: Date.now() - 60_000,
    }),
    { targetId: first.targetId, targetKey: null },
  );
  const since = lastSeq();
  const again = await a.apply(cmd({ fields, marker: 'link-create-1' }));
  assert.equal(again.alreadyApplied, true);
  assert.equal(again.targetId, first.targetId);
  assert.equal(posts(since, '/api/1.0/tasks'), 0, 'no second task');
});

test('a create whose answer was lost is found by its marker on the retry, not made twice', async () => {
  // Asana makes the task, the answer never comes: the client's timeout ends the call.
  await control.fault({
    kind: 'timeout',
    applied: true,
    count: 1,
    match: { method: 'POST', pathPrefix: '/api/1.0/tasks' },
  });
  const impatient = applier({ requestTimeoutMs: 300 });
  const command = cmd({ fields: entityState({ title: 'Lost answer' }), marker: 'link-lost-1' });
  const lost = await impatient.apply(command).then(
    () => assert.fail('expected the create to time out'),
    (err: unknown) => err,
  );
  assert.deepEqual(classifyAsanaError(lost), { category: 'network', retriable: true });
  assert.equal((await tasksWithMarker('link-lost-1')).length, 1, 'the task was made');

  const retry = await applier().apply(command);
  assert.equal(retry.alreadyApplied, true);
  assert.equal(retry.written!.title, 'Lost answer');
  assert.deepEqual(await tasksWithMarker('link-lost-1'), [retry.targetId]);
});

test('a create whose answer was lost before the move to its section: the retry finds it and moves it', async () => {
  await control.fault({
    kind: 'timeout',
    applied: true,
    count: 1,
    match: { method: 'POST', pathPrefix: '/api/1.0/tasks' },
  });
  const command = cmd({
    fields: entityState({
      title: 'Lost before its move',
      status: { name: 'In progress', category: 'in_progress' },
    }),
    marker: 'link-lost-2',
  });
  await applier({ requestTimeoutMs: 300 })
    .apply(command)
    .then(
      () => assert.fail('expected the create to time out'),
      () => undefined,
    );
  const [gid] = await tasksWithMarker('link-lost-2');
  assert.ok(gid, 'the task was made');
  assert.notEqual((await rawTask(gid)).memberships[0]?.section.name, 'In progress', 'and not moved yet');

  const since = lastSeq();
  const retry = await applier().apply(command);
  assert.equal(retry.targetId, gid);
  assert.equal(retry.alreadyApplied, false, 'the move was still to do');
  assert.deepEqual(retry.written!.status, { name: 'In progress', category: 'in_progress' });
  assert.equal((await rawTask(gid)).memberships[0]?.section.name, 'In progress');
  assert.equal(posts(since, '/api/1.0/tasks'), 0, 'no second task');
  assert.deepEqual(await tasksWithMarker('link-lost-2'), [gid]);

  const again = await applier().apply(command);
  assert.equal(again.alreadyApplied, true, 'a further repeat finds everything done');
});

test('update writes only the fields that changed, keeps the marker, and skips a stale base', async () => {
  const a = applier();
  const created = await a.apply(
    cmd({
      fields: entityState({ title: 'Base title', description: 'Base text', dueDate: '2031-01-01' }),
      marker: 'link-update-1',
    }),
  );
  // A person renames the task in Asana after the command's base was agreed.
  const alice = asanaApis(asanaConfigSchema.parse({ ...rawConfig(), accessToken: DEMO_TOKENS.alice }));
  await alice.tasks.updateTask({ data: { name: 'Renamed by a person' } }, created.targetId, {});
  const since = lastSeq();
  const res = await a.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      base: entityState({ title: 'Base title', description: 'Base text', dueDate: '2031-01-01' }),
      fields: entityState({ title: 'Our title', description: 'New **text**', dueDate: '2031-01-01' }),
    }),
  );
  assert.deepEqual(
    res.skipped.map((s) => [s.field, s.reason]),
    [['title', 'stale_base']],
  );
  assert.equal(res.alreadyApplied, false);
  assert.equal(res.before!.title, 'Renamed by a person');
  assert.equal(res.written!.title, 'Renamed by a person', 'the person’s newer value is kept');
  assert.equal(res.written!.description, 'New **text**');
  assert.equal(res.written!.dueDate, '2031-01-01');
  const puts = emu.ledger.list(since).filter((e) => e.method === 'PUT');
  assert.deepEqual(
    puts.map((e) => e.path),
    [`/api/1.0/tasks/${created.targetId}`],
  );
  // What Asana recorded: the description changed, the name and due date were not written.
  const stories = (await look().stories.getStoriesForTask(created.targetId, {
    opt_fields: 'resource_subtype,created_at',
  })) as { data: { resource_subtype: string }[] };
  const changes = stories.data.map((s) => s.resource_subtype);
  assert.equal(changes.filter((s) => s === 'notes_changed').length, 1);
  assert.equal(changes.filter((s) => s === 'name_changed').length, 1, 'only the person’s rename');
  assert.ok(!changes.includes('due_date_changed'));
  assert.equal(markerIn((await rawTask(created.targetId)).html_notes), 'link-update-1');

  // The same command again (egress re-delivers after a crash): nothing left to write.
  const since2 = lastSeq();
  const again = await a.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      base: entityState({ description: 'Base text' }),
      fields: entityState({ description: 'New **text**' }),
    }),
  );
  assert.equal(again.alreadyApplied, true);
  assert.equal(
    emu.ledger.list(since2).filter((e) => e.method !== 'GET').length,
    0,
    'a repeat writes nothing',
  );
});

test('labels are the task’s tags: created with the task, then added and removed as a set difference', async () => {
  const tagNames = async () =>
    (
      (await look().tags.getTagsForWorkspace(WORKSPACE, { opt_fields: 'name' })) as {
        data: { name: string }[];
      }
    ).data.map((t) => t.name);
  const a = applier();
  const since = lastSeq();
  // `customer` is a seeded tag; `triage` does not exist yet and is made once, in the project's workspace.
  const created = await a.apply(
    cmd({
      fields: entityState({ title: 'Tagged', labels: ['triage', 'customer'] }),
      marker: 'link-labels-1',
    }),
  );
  assert.deepEqual(created.skipped, []);
  assert.deepEqual(created.written!.labels, ['customer', 'triage']);
  assert.equal(posts(since, `/api/1.0/workspaces/${WORKSPACE}/tags`), 1, 'one tag created');
  assert.equal(posts(since, `/api/1.0/tasks/${created.targetId}/addTag`), 0, 'tags set on the create');
  assert.deepEqual(
    (await tagNames()).filter((n) => n === 'triage'),
    ['triage'],
  );

  // Add one (an existing tag), drop one: one addTag, one removeTag, no PUT.
  const since2 = lastSeq();
  const changed = await a.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      base: created.written,
      fields: entityState({ labels: ['triage', 'bug'] }),
    }),
  );
  assert.deepEqual(changed.skipped, []);
  assert.equal(changed.alreadyApplied, false);
  assert.deepEqual(changed.before!.labels, ['customer', 'triage']);
  assert.deepEqual(changed.written!.labels, ['bug', 'triage']);
  const writes = emu.ledger.list(since2).filter((e) => e.method !== 'GET');
  assert.deepEqual(
    writes.map((e) => e.path),
    [
      `/api/1.0/workspaces/${WORKSPACE}/tags`,
      `/api/1.0/tasks/${created.targetId}/addTag`,
      `/api/1.0/tasks/${created.targetId}/removeTag`,
    ],
    '`bug` created (it was new), added; `customer` removed',
  );

  // A second task with `bug`: the tag is found (cached), not made again.
  const since3 = lastSeq();
  const other = await a.apply(
    cmd({ fields: entityState({ title: 'Also a bug', labels: ['bug'] }), marker: 'link-labels-2' }),
  );
  assert.deepEqual(other.written!.labels, ['bug']);
  assert.equal(posts(since3, `/api/1.0/workspaces/${WORKSPACE}/tags`), 0, 'no second `bug` tag');
  assert.deepEqual(
    (await tagNames()).filter((n) => n === 'bug'),
    ['bug'],
  );

  // The same set in another order: nothing to write.
  const since4 = lastSeq();
  const same = await a.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      base: changed.written,
      fields: entityState({ labels: ['triage', 'bug'].reverse() }),
    }),
  );
  assert.equal(same.alreadyApplied, true);
  assert.equal(
    emu.ledger.list(since4).filter((e) => e.method !== 'GET').length,
    0,
    'an unchanged set writes nothing',
  );

  // A person removed `triage` in Asana after the base: the stale label set is not written.
  const alice = asanaApis(asanaConfigSchema.parse({ ...rawConfig(), accessToken: DEMO_TOKENS.alice }));
  const triage = (
    (await look().tasks.getTask(created.targetId, { opt_fields: 'tags.name' })) as {
      data: { tags: { gid: string; name: string }[] };
    }
  ).data.tags.find((t) => t.name === 'triage')!.gid;
  await alice.tasks.removeTagForTask({ data: { tag: triage } }, created.targetId);
  const since5 = lastSeq();
  const stale = await a.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      base: changed.written,
      fields: entityState({ labels: ['triage', 'bug', 'ui'] }),
    }),
  );
  assert.deepEqual(
    stale.skipped.map((x) => [x.field, x.reason]),
    [['labels', 'stale_base']],
  );
  assert.deepEqual(stale.written!.labels, ['bug'], 'the person’s removal stands');
  assert.equal(emu.ledger.list(since5).filter((e) => e.method !== 'GET').length, 0);
});

test('a status moves the task between sections; done completes it, todo reopens it', async () => {
  const a = applier();
  const created = await a.apply(
    cmd({
      fields: entityState({ title: 'Moves', status: { name: 'Backlog', category: 'backlog' } }),
      marker: 'link-status-1',
    }),
  );
  assert.deepEqual(created.written!.status, { name: 'Backlog', category: 'backlog' });
  const done = await a.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      base: created.written,
      fields: entityState({ status: { name: 'Done', category: 'done' } }),
    }),
  );
  assert.deepEqual(done.skipped, []);
  assert.deepEqual(done.written!.status, { name: 'Done', category: 'done' });
  const raw = await rawTask(created.targetId);
  assert.equal(raw.completed, true);
  assert.deepEqual(
    raw.memberships.map((m) => m.section.name),
    ['Done'],
  );
  const reopened = await a.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      base: done.written,
      fields: entityState({ status: { name: 'To do', category: 'todo' } }),
    }),
  );
  assert.deepEqual(reopened.written!.status, { name: 'To do', category: 'todo' });
  assert.equal((await rawTask(created.targetId)).completed, false);
});

test('a status with no section of that name is unresolvable; the rest is written', async () => {
  const created = await applier().apply(
    cmd({
      fields: entityState({ title: 'No such section', status: { name: 'Review', category: 'in_progress' } }),
      marker: 'link-status-2',
    }),
  );
  assert.deepEqual(
    created.skipped.map((s) => [s.field, s.reason]),
    [['status', 'unresolvable']],
  );
  assert.match(created.skipped[0]!.detail, /no section named "Review"/);
  assert.equal(created.written!.title, 'No such section');
  assert.deepEqual(
    created.written!.status,
    { name: 'Backlog', category: 'backlog' },
    'Asana’s first section',
  );
});

test('statusFrom completed: done completes the task without moving it', async () => {
  const a = applier({ statusFrom: 'completed' });
  const created = await a.apply(
    cmd({
      fields: entityState({ title: 'Flag only', status: { name: 'Done', category: 'done' } }),
      marker: 'link-status-3',
    }),
  );
  assert.deepEqual(created.written!.status, { name: 'Done', category: 'done' });
  const raw = await rawTask(created.targetId);
  assert.equal(raw.completed, true);
  assert.deepEqual(
    raw.memberships.map((m) => m.section.name),
    ['Backlog'],
  );
});

test('an assignee Asana does not know by email is unresolvable; a known one is assigned by gid', async () => {
  const a = applier();
  const created = await a.apply(
    cmd({
      fields: entityState({
        title: 'Who?',
        assignee: { email: 'nobody@example.com', platformUserId: null, displayName: 'Nobody' },
      }),
      marker: 'link-assignee-1',
    }),
  );
  assert.deepEqual(
    created.skipped.map((s) => [s.field, s.reason]),
    [['assignee', 'unresolvable']],
  );
  assert.match(created.skipped[0]!.detail, /no Asana user with email nobody@example\.com/);
  assert.equal(created.written!.assignee, null);
  const bob = await a.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      fields: entityState({ assignee: { email: null, platformUserId: BOB, displayName: null } }),
    }),
  );
  assert.deepEqual(bob.skipped, []);
  assert.equal(bob.written!.assignee?.email, 'bob@example.com');
  const cleared = await a.apply(
    cmd({ action: 'update', targetId: created.targetId, fields: entityState({ assignee: null }) }),
  );
  assert.equal(cleared.written!.assignee, null);
});

test('comments: create with marker, find on retry, update keeps the marker, delete twice', async () => {
  const a = applier();
  const task = await a.apply(
    cmd({ fields: entityState({ title: 'Has comments' }), marker: 'link-c-parent' }),
  );
  const create = cmd({
    entityType: 'comment',
    parentId: task.targetId,
    marker: 'link-comment-1',
    fields: entityState({ body: 'A _comment_ & more' }),
  });
  const first = await a.apply(create);
  assert.equal(first.alreadyApplied, false);
  assert.equal(first.written!.body, 'A _comment_ & more');
  assert.equal(first.written!.author?.platformUserId, '1100000000000010');
  assert.ok(first.platformVersion);
  assert.deepEqual(
    await a.findByMarker({ marker: 'link-comment-1', entityType: 'comment', parentId: task.targetId }),
    { targetId: first.targetId, targetKey: null },
  );
  const again = await a.apply(create);
  assert.equal(again.alreadyApplied, true);
  assert.equal(again.targetId, first.targetId);

  const edited = await a.apply(
    cmd({
      entityType: 'comment',
      action: 'update',
      parentId: task.targetId,
      targetId: first.targetId,
      base: first.written,
      fields: entityState({ body: 'An **edited** comment' }),
    }),
  );
  assert.equal(edited.written!.body, 'An **edited** comment');
  const story = (await look().stories.getStory(first.targetId, { opt_fields: 'html_text' })) as {
    data: { html_text: string };
  };
  assert.equal(markerIn(story.data.html_text), 'link-comment-1');

  const del = cmd({
    entityType: 'comment',
    action: 'delete',
    parentId: task.targetId,
    targetId: first.targetId,
  });
  assert.equal((await a.apply(del)).written, null);
  assert.equal((await a.apply(del)).written, null, 'already deleted is fine');
  assert.equal(
    await a.findByMarker({ marker: 'link-comment-1', entityType: 'comment', parentId: task.targetId }),
    null,
  );
});

test('issue delete: gone after, and a second delete is fine', async () => {
  const a = applier();
  const task = await a.apply(cmd({ fields: entityState({ title: 'Short-lived' }), marker: 'link-del-1' }));
  const del = cmd({ action: 'delete', targetId: task.targetId });
  assert.equal((await a.apply(del)).written, null);
  assert.equal((await a.apply(del)).written, null);
  const err = await look()
    .tasks.getTask(task.targetId, {})
    .then(
      () => assert.fail('expected a 404'),
      (e: unknown) => e,
    );
  assert.equal(classifyAsanaError(err).category, 'not_found');
});

test('a note is posted once as a comment, rendered as Asana rich text, ending with its marker', async () => {
  const a = applier();
  const task = await a.apply(
    cmd({ fields: entityState({ title: 'Gets a note' }), marker: 'link-note-parent' }),
  );
  const noteId = 'ab12cd34ef56ab78';
  const note = {
    noteId,
    entityType: 'issue' as const,
    targetId: task.targetId,
    targetKey: null,
    paragraphs: [
      [{ text: 'Priority ' }, { text: 'urgent', style: 'code' as const }, { text: ' was not carried.' }],
      [{ text: 'Why: ', style: 'strong' as const }, { text: 'Asana <has> no priority & so on' }],
      [{ text: 'Lockstep writes this note once. ' }, { text: noteMarkerText(noteId) }],
    ],
  };
  const first = await a.postNote!(note);
  assert.equal(first.alreadyPosted, false);
  const since = lastSeq();
  const second = await a.postNote!(note);
  assert.deepEqual(second, { commentId: first.commentId, alreadyPosted: true });
  assert.equal(posts(since, `/api/1.0/tasks/${task.targetId}/stories`), 0);

  const story = (await look().stories.getStory(first.commentId, { opt_fields: 'html_text,type' })) as {
    data: { html_text: string; type: string };
  };
  assert.equal(story.data.type, 'comment');
  assert.equal(
    story.data.html_text,
    `<body>Priority <code>urgent</code> was not carried.\n\n<strong>Why: </strong>Asana &lt;has&gt; no priority &amp; so on\n\nLockstep writes this note once. ${noteMarkerText(noteId)}\nlockstep-link:note%3A${noteId}</body>`,
  );
  assert.equal(noteIdIn(story.data.html_text), noteId);
});

test('a command for an entity Asana does not have is a validation error', async () => {
  await assert.rejects(
    applier().apply(cmd({ entityType: 'message', marker: 'x' })),
    (err: unknown) => classifyAsanaError(err).category === 'validation',
  );
  await assert.rejects(
    applier().apply(cmd({ marker: null })),
    (err: unknown) => classifyAsanaError(err).category === 'validation',
  );
});
