import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROJECT, USERS, rejection, startSeeded, pageMeta } from './helpers.ts';

const TASK = '1100000000001002';

describe('asana emulator: comments (stories) and the Events API through the official SDK', () => {
  let t: Awaited<ReturnType<typeof startSeeded>>;
  before(async () => {
    t = await startSeeded();
  });
  after(() => t.emu.close());

  it('creates, lists and updates comments; created_by is the token owner', async () => {
    const c = (await t.bot.stories.createStoryForTask({ data: { text: 'Synced from Jira' } }, TASK, {})) as {
      data: Record<string, unknown>;
    };
    assert.equal(c.data['type'], 'comment');
    assert.equal(c.data['resource_subtype'], 'comment_added');
    assert.equal(c.data['text'], 'Synced from Jira');
    assert.deepEqual(c.data['created_by'], {
      gid: USERS['lockstep'],
      resource_type: 'user',
      name: 'Lockstep Bot',
    });
    const html = (await t.alice.stories.createStoryForTask(
      { data: { html_text: '<body>Looks <em>good</em></body>' } },
      TASK,
      {
        opt_fields: 'text,html_text,created_by.email',
      },
    )) as { data: Record<string, unknown> };
    assert.deepEqual(html.data, {
      gid: html.data['gid'],
      text: 'Looks good',
      html_text: '<body>Looks <em>good</em></body>',
      created_by: { gid: USERS['alice'], email: 'alice@example.com' },
    });

    const list = await t.bot.stories.getStoriesForTask(TASK, {
      opt_fields: 'type,resource_subtype,text,created_by',
      limit: 100,
    });
    const comments = (list.data as { type: string; text: string }[]).filter((s) => s.type === 'comment');
    assert.deepEqual(
      comments.map((s) => s.text),
      ['I can reproduce it on Safari.', 'Synced from Jira', 'Looks good'],
    );

    const upd = (await t.bot.stories.updateStory(
      { data: { text: 'Synced from Jira (edited)' } },
      String(c.data['gid']),
      {
        opt_fields: 'text,is_edited',
      },
    )) as { data: unknown };
    assert.deepEqual(upd.data, { gid: c.data['gid'], text: 'Synced from Jira (edited)', is_edited: true });
    // Asana lets only the author edit a comment.
    const denied = await rejection(
      t.alice.stories.updateStory({ data: { text: 'hijack' } }, String(c.data['gid']), {}),
    );
    assert.equal(denied.status, 403);
    assert.equal(denied.response.body.errors[0]?.message, 'Forbidden');
  });

  it('a comment counts as a modification of its task (modified_at)', async () => {
    const before = (await t.bot.tasks.getTask(TASK, { opt_fields: 'modified_at' })) as {
      data: { modified_at: string };
    };
    const s = (await t.bob.stories.createStoryForTask({ data: { text: 'ping' } }, TASK, {
      opt_fields: 'created_at',
    })) as {
      data: { created_at: string };
    };
    const after = (await t.bot.tasks.getTask(TASK, { opt_fields: 'modified_at' })) as {
      data: { modified_at: string };
    };
    assert.ok(after.data.modified_at > before.data.modified_at);
    assert.equal(after.data.modified_at, s.data.created_at);
  });

  it('events: 412 with a sync token first, then the compact events since it, attributed to their actor', async () => {
    const first = await rejection(t.bot.events.getEvents(PROJECT, {}));
    assert.equal(first.status, 412);
    assert.match(first.response.body.errors[0]!.message, /^Sync token invalid or too old/);
    const sync = first.response.body.sync!;
    assert.match(sync, /^[0-9a-f]{32}$/);

    await t.alice.tasks.updateTask({ data: { name: 'Fix login redirect loop (Safari)' } }, TASK, {});
    await t.bot.stories.createStoryForTask({ data: { text: 'mirrored' } }, TASK, {});

    const page = await t.bot.events.getEvents(PROJECT, { sync });
    const resp = pageMeta(page);
    assert.equal(resp.has_more, false);
    assert.match(resp.sync, /^[0-9a-f]{32}$/);
    const ev = page.data as {
      action: string;
      user: { gid: string };
      resource: { gid: string; resource_type: string; resource_subtype: string };
      parent: { gid: string } | null;
      change?: { field: string; action: string };
      created_at: string;
    }[];
    const taskChange = ev.find((e) => e.resource.resource_type === 'task' && e.action === 'changed');
    assert.deepEqual(taskChange?.change, { field: 'name', action: 'changed' });
    assert.equal(taskChange?.user.gid, USERS['alice']);
    assert.equal(taskChange?.parent, null);
    const comment = ev.find((e) => e.resource.resource_subtype === 'comment_added');
    assert.equal(comment?.action, 'added');
    assert.equal(comment?.user.gid, USERS['lockstep']);
    assert.equal(comment?.parent?.gid, TASK);
    // The rename also left a system story (Asana records one), visible as an event too.
    assert.ok(ev.some((e) => e.resource.resource_subtype === 'name_changed'));

    const again = await t.bot.events.getEvents(PROJECT, { sync: resp.sync });
    assert.deepEqual(again.data, []);
  });

  it('events: at most 100 per call with has_more, and 412 with a fresh token once a token expires', async () => {
    const first = await rejection(t.bot.events.getEvents(TASK, {}));
    let sync = first.response.body.sync!;
    for (let i = 0; i < 105; i++)
      await t.bob.tasks.updateTask(
        { data: { start_on: `2030-01-${String((i % 28) + 1).padStart(2, '0')}` } },
        TASK,
        {},
      );
    const p1 = await t.bot.events.getEvents(TASK, { sync });
    const r1 = pageMeta(p1);
    assert.equal(p1.data.length, 100);
    assert.equal(r1.has_more, true);
    const p2 = await t.bot.events.getEvents(TASK, { sync: r1.sync });
    const r2 = pageMeta(p2);
    assert.equal(p2.data.length, 5);
    assert.equal(r2.has_more, false);
    sync = r2.sync;

    const expired = await t.asana.expireSyncTokens(sync);
    assert.equal(expired.expired, 1);
    const e = await rejection(t.bot.events.getEvents(TASK, { sync }));
    assert.equal(e.status, 412);
    assert.notEqual(e.response.body.sync, sync);
    // The fresh token works from then on.
    const ok = await t.bot.events.getEvents(TASK, { sync: e.response.body.sync! });
    assert.deepEqual(ok.data, []);
  });
});
