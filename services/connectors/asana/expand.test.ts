/**
 * expand against the Asana emulator (test/emulators/asana, test infrastructure — not Asana): real
 * webhook deliveries from the emulator to a local receiver, expanded through the official SDK.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type Asana from 'asana';
import { demoSeed } from '../../../test/emulators/asana/index.ts';
import {
  DEMO_TOKENS,
  PROJECT,
  Receiver,
  USERS,
  WS,
  startSeeded,
} from '../../../test/emulators/asana/helpers.ts';
import { asanaApis, type AsanaApis } from './client.ts';
import { asanaConfigSchema, type AsanaConfig } from './config.ts';
import { expandEvents, expandWebhook } from './expand.ts';
import type { AsanaEvent, ExpandedPayload } from './model.ts';

const TASK = '1100000000001001';
const OTHER_TASK = '1100000000001002';
const COMMENT = '1100000000002001';

describe('asana expand', () => {
  let t: Awaited<ReturnType<typeof startSeeded>>;
  let rx: Receiver;
  let config: AsanaConfig;

  before(async () => {
    t = await startSeeded();
    config = asanaConfigSchema.parse({
      accessToken: DEMO_TOKENS.bot,
      baseUrl: t.emu.apiUrl,
      projects: [PROJECT],
    });
  });
  beforeEach(async () => {
    await rx?.close();
    await t.control.reset();
    await t.control.seed(demoSeed());
    await t.control.settings({ webhookTimeScale: 0.00001 });
    rx = await new Receiver().start();
    await t.bot.webhooks.createWebhook({ data: { resource: PROJECT, target: rx.url } }, {});
  });
  after(async () => {
    await rx.close();
    await t.emu.close();
  });

  const deps = () => ({ config, botUserId: USERS['lockstep']! });

  /** The body of every delivery since `from`, as one `{events}` (each delivery is one API request). */
  async function delivered(from: number): Promise<{ events: unknown[] }> {
    await t.emu.kit.webhooks.idle();
    assert.ok(rx.deliveries.length > from, 'expected a webhook delivery');
    return { events: rx.deliveries.slice(from).flatMap((d) => d.body.events) };
  }

  async function taskGets(since: number): Promise<string[]> {
    const { entries } = await t.control.ledger(since);
    return entries.filter((e) => e.method === 'GET' && /\/tasks\/\d+$/.test(e.path)).map((e) => e.path);
  }
  const ledgerSeq = async () => (await t.control.ledger()).entries.at(-1)?.seq ?? 0;

  it('a task change delivered by webhook expands to the task as it stands, fetched once', async () => {
    await t.alice.tasks.updateTask(
      { data: { name: 'Onboarding guide, v2', due_on: '2030-02-01' } },
      TASK,
      {},
    );
    const body = await delivered(0);
    // The emulator's delivery: two `changed` task events and the system stories they added.
    assert.ok(body.events.length >= 3);
    const seq = await ledgerSeq();
    const { payload, rejected } = await expandWebhook(body, deps());
    const p = payload as ExpandedPayload;
    assert.deepEqual(rejected, []);
    assert.equal(p.lockstepExpanded, 1);
    assert.equal(p.tasks.length, 1);
    assert.equal(p.tasks[0]!.gid, TASK);
    assert.equal(p.tasks[0]!.name, 'Onboarding guide, v2');
    assert.equal(p.tasks[0]!.due_on, '2030-02-01');
    assert.equal(p.tasks[0]!.assignee?.email, 'alice@example.com');
    assert.equal(p.tasks[0]!.memberships?.[0]?.project?.gid, PROJECT);
    // The system stories (name_changed, due_date_changed) are not comments: skipped, not fetched.
    assert.deepEqual(p.stories, []);
    assert.deepEqual(p.created, []);
    assert.equal(p.actors[TASK], USERS['alice']);
    assert.deepEqual(await taskGets(seq), [`/api/1.0/tasks/${TASK}`]);
    const { entries } = await t.control.ledger(seq);
    assert.equal(entries.filter((e) => e.path.startsWith('/api/1.0/stories/')).length, 0);
  });

  it('a new task is listed in `created`; a section move is not a create', async () => {
    const made = (await t.bob.tasks.createTask(
      { data: { name: 'New from Bob', projects: [PROJECT], workspace: WS } },
      {},
    )) as { data: { gid: string } };
    const { payload } = await expandWebhook(await delivered(0), deps());
    const p = payload as ExpandedPayload;
    assert.deepEqual(p.created, [made.data.gid]);
    assert.deepEqual(
      p.tasks.map((x) => x.name),
      ['New from Bob'],
    );
    assert.equal(p.actors[made.data.gid], USERS['bob']);

    const from = rx.deliveries.length;
    await t.alice.sections.addTaskForSection('1100000000000104', { body: { data: { task: TASK } } });
    const moved = (await expandWebhook(await delivered(from), deps())).payload as ExpandedPayload;
    assert.deepEqual(moved.created, []);
    assert.equal(moved.tasks[0]!.memberships?.[0]?.section?.name, 'Done');
  });

  it('a deleted task: the `deleted` event, and a 404 on the re-fetch', async () => {
    await t.alice.tasks.deleteTask(TASK);
    const seq = await ledgerSeq();
    const { payload } = await expandWebhook(await delivered(0), deps());
    const p = payload as ExpandedPayload;
    assert.deepEqual(p.deletedTasks, [TASK]);
    assert.deepEqual(p.tasks, []);
    assert.equal(p.actors[TASK], USERS['alice']);
    // Known deleted from the event: not fetched.
    assert.deepEqual(await taskGets(seq), []);

    // A change event whose task is gone by the time it is read (delivered late): 404 → deleted.
    const late: AsanaEvent = {
      user: { gid: USERS['bob']! },
      action: 'changed',
      resource: { gid: TASK, resource_type: 'task', resource_subtype: 'default_task' },
      change: { field: 'name', action: 'changed' },
    };
    const again = await expandEvents(asanaApis(config), config, [late]);
    assert.deepEqual(again.payload.deletedTasks, [TASK]);
    assert.deepEqual(again.payload.tasks, []);
  });

  it('a comment expands to the story and its task; an edit re-reads it; a delete names its task', async () => {
    await t.alice.stories.createStoryForTask(
      { data: { html_text: '<body>Looks <strong>good</strong></body>' } },
      TASK,
      {},
    );
    const { payload } = await expandWebhook(await delivered(0), deps());
    const p = payload as ExpandedPayload;
    assert.equal(p.stories.length, 1);
    const story = p.stories[0]!;
    assert.equal(story.type, 'comment');
    assert.equal(story.html_text, '<body>Looks <strong>good</strong></body>');
    assert.equal(story.created_by?.email, 'alice@example.com');
    assert.equal(story.target?.gid, TASK);
    assert.equal(p.actors[story.gid], USERS['alice']);
    assert.deepEqual(p.editedStories, []);
    // The comment's task comes along: its project is the comment's flow side.
    assert.deepEqual(
      p.tasks.map((x) => x.gid),
      [TASK],
    );

    let from = rx.deliveries.length;
    await t.alice.stories.updateStory({ data: { text: 'Looks great' } }, story.gid, {});
    const edited = (await expandWebhook(await delivered(from), deps())).payload as ExpandedPayload;
    assert.equal(edited.stories[0]?.text, 'Looks great');
    assert.deepEqual(edited.editedStories, [story.gid]);

    from = rx.deliveries.length;
    await t.alice.stories.deleteStory(story.gid);
    const gone = (await expandWebhook(await delivered(from), deps())).payload as ExpandedPayload;
    assert.deepEqual(gone.stories, []);
    assert.deepEqual(gone.deletedStories, [{ gid: story.gid, taskGid: TASK }]);
  });

  it('a system story is skipped, also when the event does not say its subtype', async () => {
    await t.alice.tasks.updateTask({ data: { name: 'Renamed' } }, TASK, {});
    const stories = await t.bot.stories.getStoriesForTask(TASK, { opt_fields: 'type,resource_subtype' });
    const system = (stories.data as { gid: string; type: string }[]).find((s) => s.type === 'system');
    assert.ok(system, 'the rename added a system story');
    const events: AsanaEvent[] = [
      {
        user: { gid: USERS['alice']! },
        action: 'added',
        resource: { gid: system.gid, resource_type: 'story' },
        parent: { gid: TASK, resource_type: 'task' },
      },
      {
        user: { gid: USERS['carol']! },
        action: 'added',
        resource: { gid: COMMENT, resource_type: 'story', resource_subtype: 'comment_added' },
        parent: { gid: OTHER_TASK, resource_type: 'task' },
      },
    ];
    const { payload } = await expandEvents(asanaApis(config), config, events);
    assert.deepEqual(
      payload.stories.map((s) => s.gid),
      [COMMENT],
    );
  });

  it('a heartbeat passes through unchanged; a body without events is refused', async () => {
    await t.asana.heartbeat();
    const beat = await delivered(0);
    assert.deepEqual(beat, { events: [] });
    const seq = await ledgerSeq();
    const out = await expandWebhook(beat, deps());
    assert.equal(out.payload, beat);
    assert.deepEqual(out.rejected, []);
    assert.equal((await t.control.ledger(seq)).entries.length, 0);
    for (const bad of [null, 'events', { events: 'none' }, { data: [] }])
      await assert.rejects(expandWebhook(bad, deps()), { name: 'LockstepError', category: 'validation' });
  });

  it('tasks outside the configured projects are dropped, and their comments not fetched', async () => {
    const loose = (await t.alice.tasks.createTask({ data: { name: 'Personal', workspace: WS } }, {})) as {
      data: { gid: string };
    };
    await t.alice.stories.createStoryForTask({ data: { text: 'note to self' } }, loose.data.gid, {});
    const { data } = await t.bot.stories.getStoriesForTask(loose.data.gid, {});
    const storyGid = (data as { gid: string }[]).at(-1)!.gid;
    const seq = await ledgerSeq();
    const { payload } = await expandEvents(asanaApis(config), config, [
      {
        user: { gid: USERS['alice']! },
        action: 'added',
        resource: { gid: loose.data.gid, resource_type: 'task', resource_subtype: 'default_task' },
        parent: null,
      },
      {
        user: { gid: USERS['alice']! },
        action: 'added',
        resource: { gid: storyGid, resource_type: 'story', resource_subtype: 'comment_added' },
        parent: { gid: loose.data.gid, resource_type: 'task' },
      },
    ]);
    assert.deepEqual(payload.tasks, []);
    assert.deepEqual(payload.stories, []);
    assert.deepEqual(payload.created, []);
    const { entries } = await t.control.ledger(seq);
    assert.deepEqual(
      entries.map((e) => e.path),
      [`/api/1.0/tasks/${loose.data.gid}`],
    );
  });

  it('a malformed event or record is rejected with the raw item, and the rest goes on', async () => {
    const apis = asanaApis(config);
    // Asana answering a record in a shape the schema refuses (a name that is not a string).
    const badBody = { data: { gid: OTHER_TASK, name: 42 } };
    const tasks = Object.assign(Object.create(apis.tasks) as Asana.TasksApi, {
      getTask: (gid: string, opts: { opt_fields?: string }) =>
        gid === OTHER_TASK ? Promise.resolve(badBody) : apis.tasks.getTask(gid, opts),
    });
    const withBad: AsanaApis = { ...apis, tasks };
    const changed = (gid: string): AsanaEvent => ({
      user: { gid: USERS['alice']! },
      action: 'changed',
      resource: { gid, resource_type: 'task', resource_subtype: 'default_task' },
      change: { field: 'name', action: 'changed' },
    });
    const out = await expandEvents(withBad, config, [changed(OTHER_TASK), changed(TASK)]);
    assert.deepEqual(
      out.payload.tasks.map((x) => x.gid),
      [TASK],
    );
    assert.equal(out.rejected.length, 1);
    assert.equal(out.rejected[0]!.id, OTHER_TASK);
    assert.deepEqual(out.rejected[0]!.raw, badBody);
    assert.match(out.rejected[0]!.reason, /asana task/);

    // Through the webhook path: an event without `action` is rejected, the other expands.
    const broken = { user: null, resource: { gid: OTHER_TASK, resource_type: 'task' } };
    const hook = await expandWebhook({ events: [broken, changed(TASK)] }, deps());
    assert.deepEqual(
      (hook.payload as ExpandedPayload).tasks.map((x) => x.gid),
      [TASK],
    );
    assert.deepEqual(
      hook.rejected.map((r) => [r.id, r.raw]),
      [[OTHER_TASK, broken]],
    );
  });

  it('a 5xx, a 429 and a 401 during expand are thrown unchanged', async () => {
    const body = {
      events: [
        {
          user: { gid: USERS['alice']!, resource_type: 'user' },
          action: 'changed',
          resource: { gid: TASK, resource_type: 'task', resource_subtype: 'default_task' },
          parent: null,
          change: { field: 'name', action: 'changed' },
        },
      ],
    };
    await t.control.fault({ kind: 'server_error', status: 503, match: { pathPrefix: '/api/1.0/tasks/' } });
    await assert.rejects(expandWebhook(body, deps()), (err: { status?: number }) => err.status === 503);
    await t.control.fault({ kind: 'rate_limit', retryAfterSec: 7, match: { pathPrefix: '/api/1.0/tasks/' } });
    await assert.rejects(
      expandWebhook(body, deps()),
      (err: { status?: number; response?: { headers?: Record<string, string> } }) =>
        err.status === 429 && err.response?.headers?.['retry-after'] === '7',
    );
    const revoked = asanaConfigSchema.parse({
      ...config,
      accessToken: 'never-issued',
      baseUrl: t.emu.apiUrl,
    });
    await assert.rejects(
      expandWebhook(body, { config: revoked, botUserId: null }),
      (err: { status?: number }) => err.status === 401,
    );
  });
});
