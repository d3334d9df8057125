import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import Asana from 'asana';
import { DEMO_TOKENS, demoSeed, startAsanaEmulator } from '../../../test/emulators/asana/index.ts';
import { LockstepError } from '../../core/errors/index.ts';
import { noteMarkerText } from '../kit/notes.ts';
import type { NormalizeContext } from '../types.ts';
import { asanaConfigSchema, type AsanaConfig } from './config.ts';
import { STORY_FIELDS, TASK_FIELDS, type AsanaTask, type ExpandedPayload } from './model.ts';
import { normalizeAsana, statusOf, storyState, taskState } from './normalize.ts';

const PROJECT = '1100000000000100';
const BOT = '1100000000000010';
const ALICE = '1100000000000011';
const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));
const expanded = (): ExpandedPayload => fixture('expanded-created.json') as ExpandedPayload;

function config(extra: Record<string, unknown> = {}): AsanaConfig {
  return asanaConfigSchema.parse({ accessToken: 't', projects: [PROJECT], botUserId: BOT, ...extra });
}
function ctx(cfg = config()): NormalizeContext<AsanaConfig> {
  return { config: cfg, via: 'webhook', deliveryId: null, nowMs: 1_800_000_000_000, botUserId: null };
}

test('an expanded delivery: the new task (c), the seeded task (u) and the comment (c)', () => {
  const events = normalizeAsana(expanded(), ctx());
  assert.deepEqual(
    events.map((e) => [e.op, e.source.entityType, e.source.entityId]),
    [
      ['c', 'issue', '1209000000000001'],
      ['u', 'issue', '1100000000001001'],
      ['c', 'comment', '1209000000000002'],
    ],
  );
  const [created, updated, comment] = events as [
    NonNullable<(typeof events)[0]>,
    NonNullable<(typeof events)[0]>,
    NonNullable<(typeof events)[0]>,
  ];
  assert.deepEqual(created.after, {
    known: [
      'title',
      'description',
      'status',
      'assignee',
      'labels',
      'dueDate',
      'url',
      'createdAtMs',
      'updatedAtMs',
    ],
    title: 'Fix login',
    description: 'Steps: **open** the page',
    status: { name: 'Backlog', category: 'todo' },
    priority: null,
    assignee: { email: 'alice@example.com', platformUserId: ALICE, displayName: 'Alice Example' },
    labels: ['customer'],
    dueDate: '2026-12-24',
    url: 'https://app.asana.com/0/1100000000000100/1209000000000001',
    body: null,
    author: null,
    createdAtMs: Date.parse('2026-12-04T20:13:55.452Z'),
    updatedAtMs: Date.parse('2026-12-04T20:13:55.477Z'),
  });
  assert.deepEqual(created.source, {
    platform: 'asana',
    workspace: PROJECT,
    entityType: 'issue',
    entityId: '1209000000000001',
    entityKey: null,
    parentId: null,
    via: 'webhook',
    deliveryId: null,
    actor: { email: null, platformUserId: ALICE, displayName: null },
    actorIsLockstep: false,
    marker: 'link-7',
    version: '2026-12-04T20:13:55.477Z',
    tsMs: Date.parse('2026-12-04T20:13:55.477Z'),
  });
  assert.equal(created.before, null);
  assert.deepEqual(created.changedFields, [
    'title',
    'description',
    'status',
    'assignee',
    'labels',
    'dueDate',
  ]);
  assert.equal(created.tsMs, 1_800_000_000_000);
  assert.equal(updated.source.marker, null);
  assert.deepEqual(updated.changedFields, created.changedFields);
  assert.deepEqual(comment.after, {
    ...storyState({ gid: 'x' }),
    known: ['body', 'author', 'createdAtMs'],
    body: 'Looks _good_ & done',
    author: { email: 'alice@example.com', platformUserId: ALICE, displayName: 'Alice Example' },
    createdAtMs: Date.parse('2026-12-04T20:13:55.477Z'),
  });
  assert.equal(comment.source.parentId, '1209000000000001');
  assert.equal(comment.source.workspace, PROJECT);
  assert.equal(comment.source.version, '2026-12-04T20:13:55.477Z');
  assert.deepEqual(comment.changedFields, ['body']);
});

test('eventIds are deterministic; a comment edit (same created_at) gets a new one', () => {
  const a = normalizeAsana(expanded(), ctx());
  const b = normalizeAsana(expanded(), { ...ctx(), via: 'poll', nowMs: 5 });
  assert.deepEqual(
    a.map((e) => e.eventId),
    b.map((e) => e.eventId),
  );
  const p = expanded();
  p.stories[0] = { ...p.stories[0]!, html_text: '<body>Edited</body>' };
  p.editedStories = [p.stories[0].gid];
  const edited = normalizeAsana(p, ctx()).find((e) => e.source.entityType === 'comment')!;
  assert.equal(edited.op, 'u');
  assert.equal(edited.after?.body, 'Edited');
  assert.notEqual(edited.eventId, a[2]!.eventId);
  assert.equal(new Set(a.map((e) => e.eventId)).size, 3);
});

test('actorIsLockstep: the actor is the configured (or resolved) bot user', () => {
  const p = expanded();
  p.actors['1209000000000001'] = BOT;
  const [e] = normalizeAsana(p, ctx());
  assert.equal(e!.source.actorIsLockstep, true);
  const unresolved = normalizeAsana(p, { ...ctx(config({ botUserId: null })), botUserId: BOT });
  assert.equal(unresolved[0]!.source.actorIsLockstep, true);
  p.actors['1209000000000001'] = null;
  assert.equal(normalizeAsana(p, ctx())[0]!.source.actor, null);
  assert.equal(normalizeAsana(p, ctx())[0]!.source.actorIsLockstep, false);
});

test('a task in none of the configured projects, and its comments, yield no event', () => {
  const events = normalizeAsana(expanded(), ctx(config({ projects: ['999'] })));
  assert.deepEqual(events, []);
});

test('system stories and Lockstep notes are skipped', () => {
  const p = expanded();
  p.stories = [
    { ...p.stories[0]!, gid: 's1', type: 'system', resource_subtype: 'name_changed' },
    {
      ...p.stories[0]!,
      gid: 's2',
      html_text: `<body>note\n${noteMarkerText('0123456789abcdef')}</body>`,
      created_by: { gid: BOT },
    },
  ];
  assert.deepEqual(
    normalizeAsana(p, ctx()).filter((e) => e.source.entityType === 'comment'),
    [],
  );
});

test('deleted tasks and stories: op d, after null, before null', () => {
  const p: ExpandedPayload = {
    ...expanded(),
    tasks: [],
    stories: [],
    created: [],
    deletedTasks: ['t9'],
    deletedStories: [{ gid: 's9', taskGid: 't9' }],
    actors: { t9: ALICE, s9: ALICE },
  };
  const events = normalizeAsana(p, ctx());
  assert.deepEqual(
    events.map((e) => [e.op, e.source.entityType, e.source.entityId, e.source.parentId, e.after, e.before]),
    [
      ['d', 'issue', 't9', null, null, null],
      ['d', 'comment', 's9', 't9', null, null],
    ],
  );
  assert.equal(events[0]!.source.workspace, PROJECT);
  assert.notEqual(events[0]!.eventId, events[1]!.eventId);
});

test('raw webhook bodies: the heartbeat is nothing; compact events must be expanded first', () => {
  assert.deepEqual(normalizeAsana(fixture('webhook-heartbeat.json'), ctx()), []);
  assert.throws(
    () => normalizeAsana(fixture('webhooks/webhook-events.json'), ctx()),
    (e: unknown) =>
      e instanceof LockstepError && e.category === 'validation' && /expanded first/.test(e.message),
  );
});

test('malformed payloads are validation errors; only the gid is required', () => {
  for (const bad of [
    null,
    'x',
    42,
    {},
    { lockstepExpanded: 2 },
    { lockstepExpanded: 1, tasks: [{ name: 'no gid' }] },
    { lockstepExpanded: 1, tasks: 'no' },
  ]) {
    assert.throws(
      () => normalizeAsana(bad, ctx()),
      (e: unknown) => e instanceof LockstepError && e.category === 'validation',
      JSON.stringify(bad),
    );
  }
  const bare: ExpandedPayload = {
    lockstepExpanded: 1,
    tasks: [{ gid: 't1', memberships: [{ project: { gid: PROJECT }, section: null }] }],
    stories: [{ gid: 's1', type: 'comment', target: { gid: 't1' } }],
    deletedTasks: [],
    deletedStories: [],
    created: [],
    actors: {},
  };
  const [task, story] = normalizeAsana(bare, ctx());
  assert.deepEqual(task!.after?.known, []);
  assert.equal(task!.source.version, null);
  assert.equal(task!.source.tsMs, 1_800_000_000_000);
  assert.deepEqual(story!.after?.known, []);
  assert.deepEqual(story!.changedFields, []);
});

test('statusOf: sections, categories, completed, and statusFrom completed', () => {
  const t = (section: string | null, completed: boolean | null): AsanaTask => ({
    gid: 't',
    completed,
    memberships: [
      { project: { gid: '555' }, section: { gid: '1', name: 'Elsewhere' } },
      { project: { gid: PROJECT }, section: section ? { gid: '2', name: section } : null },
    ],
  });
  const cfg = config({
    statusCategories: { 'In progress': 'in_progress', Shipped: 'done', Dropped: 'canceled' },
  });
  assert.deepEqual(statusOf(t('In progress', false), cfg), { name: 'In progress', category: 'in_progress' });
  assert.deepEqual(statusOf(t('In progress', true), cfg), { name: 'In progress', category: 'done' });
  assert.deepEqual(statusOf(t('Dropped', true), cfg), { name: 'Dropped', category: 'canceled' });
  assert.deepEqual(statusOf(t('Shipped', false), cfg), { name: 'Shipped', category: 'done' });
  assert.deepEqual(statusOf(t('Unnamed', false), cfg), { name: 'Unnamed', category: 'todo' });
  assert.deepEqual(statusOf(t('Unnamed', true), cfg), { name: 'Unnamed', category: 'done' });
  assert.equal(statusOf(t(null, false), cfg), null);
  const byFlag = config({ statusFrom: 'completed' });
  assert.deepEqual(statusOf(t('Unnamed', true), byFlag), { name: 'Done', category: 'done' });
  assert.deepEqual(statusOf(t(null, false), byFlag), { name: 'To do', category: 'todo' });
  assert.equal(statusOf(t(null, null), byFlag), null);
});

test('taskState: null notes read as an empty description, a null assignee as unassigned', () => {
  const s = taskState({ gid: 't', html_notes: null, assignee: null, due_on: null, name: 'N' }, config());
  assert.deepEqual(s.known, ['title', 'description', 'assignee', 'dueDate']);
  assert.equal(s.description, '');
  assert.equal(s.assignee, null);
  assert.equal(s.dueDate, null);
});

test('records as the live emulator returns them for TASK_FIELDS/STORY_FIELDS keep the fixture shape', async () => {
  const emu = await startAsanaEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
  try {
    const client = (token: string) => {
      const c = new Asana.ApiClient();
      c.basePath = emu.apiUrl;
      c.authentications.token.accessToken = token;
      return { tasks: new Asana.TasksApi(c), stories: new Asana.StoriesApi(c) };
    };
    const bot = client(DEMO_TOKENS.bot);
    const made = (await bot.tasks.createTask(
      {
        data: {
          name: 'Live',
          html_notes: '<body>Hi &amp; bye\nlockstep-link:L-2</body>',
          projects: [PROJECT],
        },
      },
      {},
    )) as { data: { gid: string } };
    const said = (await client(DEMO_TOKENS.alice).stories.createStoryForTask(
      { data: { html_text: '<body>A <strong>comment</strong></body>' } },
      made.data.gid,
      {},
    )) as { data: { gid: string } };
    const task = (
      (await bot.tasks.getTask(made.data.gid, { opt_fields: TASK_FIELDS })) as { data: AsanaTask }
    ).data;
    const story = (
      (await bot.stories.getStory(said.data.gid, { opt_fields: STORY_FIELDS })) as {
        data: ExpandedPayload['stories'][0];
      }
    ).data;
    const fx = expanded();
    assert.deepEqual(Object.keys(task).sort(), Object.keys(fx.tasks[0]!).sort());
    assert.deepEqual(Object.keys(story).sort(), Object.keys(fx.stories[0]!).sort());
    const events = normalizeAsana(
      {
        ...fx,
        tasks: [task],
        stories: [story],
        created: [task.gid],
        actors: { [task.gid]: BOT, [story.gid]: ALICE },
      },
      ctx(),
    );
    assert.deepEqual(
      events.map((e) => [e.op, e.source.entityType, e.source.actorIsLockstep, e.source.marker]),
      [
        ['c', 'issue', true, 'L-2'],
        ['c', 'comment', false, null],
      ],
    );
    assert.equal(events[0]!.after?.description, 'Hi & bye');
    assert.equal(events[1]!.after?.body, 'A **comment**');
  } finally {
    await emu.close();
  }
});

test('labels are the task’s tag names, sorted and each once; a change of tags alone gets a new eventId', () => {
  const task = (tags: AsanaTask['tags']): AsanaTask => ({
    gid: 't1',
    name: 'Tagged',
    modified_at: '2026-12-04T20:13:55.477Z',
    memberships: [{ project: { gid: PROJECT }, section: { gid: 's', name: 'Backlog' } }],
    tags,
  });
  const s = taskState(
    task([
      { gid: '3', name: 'ui' },
      { gid: '1', name: 'bug' },
      { gid: '2', name: 'ui' },
    ]),
    config(),
  );
  assert.deepEqual(s.labels, ['bug', 'ui']);
  assert.ok(s.known.includes('labels'));
  assert.deepEqual(taskState(task([]), config()).labels, []);
  assert.deepEqual(taskState(task(null), config()).labels, []);
  const unknown = taskState(task(undefined), config());
  assert.ok(!unknown.known.includes('labels'), 'tags not asked for: labels not known');

  const eventOf = (tags: AsanaTask['tags']) =>
    normalizeAsana({ ...expanded(), tasks: [task(tags)], stories: [], created: [], actors: {} }, ctx())[0]!;
  const bug = eventOf([{ gid: '1', name: 'bug' }]);
  assert.ok(bug.changedFields.includes('labels'));
  // Same modified_at (Asana does not count tags among the changes that move it), other tags.
  assert.notEqual(eventOf([{ gid: '2', name: 'ui' }]).eventId, bug.eventId);
  assert.equal(eventOf([{ gid: '9', name: 'bug' }]).eventId, bug.eventId, 'by name, as labels are');
});
