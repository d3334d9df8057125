import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROJECT, USERS, WS, pageMeta, rejection, startSeeded } from './helpers.ts';

const TASK = '1100000000001001';
const CUSTOMER = '1100000000000200';

describe('asana emulator: tags through the official SDK', () => {
  let t: Awaited<ReturnType<typeof startSeeded>>;
  before(async () => {
    t = await startSeeded();
  });
  after(() => t.emu.close());

  const tagsOf = async (task: string) =>
    ((await t.bot.tasks.getTask(task, { opt_fields: 'tags.name' })) as { data: { tags: unknown[] } }).data
      .tags;

  it('lists a workspace’s tags (both routes), compact by default, with limit', async () => {
    const byQuery = await t.bot.tags.getTags({ workspace: WS });
    assert.deepEqual(byQuery.data, [{ gid: CUSTOMER, resource_type: 'tag', name: 'customer' }]);
    const byPath = await t.bot.tags.getTagsForWorkspace(WS, { limit: 1, opt_fields: 'name,workspace' });
    assert.deepEqual(byPath.data, [
      { gid: CUSTOMER, name: 'customer', workspace: { gid: WS, resource_type: 'workspace' } },
    ]);
    assert.equal(pageMeta(byPath).next_page, null);
    const unknown = await rejection(t.bot.tags.getTagsForWorkspace('999', {}));
    assert.equal(unknown.status, 404);
  });

  it('creates tags in a workspace (201, full record); a workspace and a name are required', async () => {
    const made = (await t.bot.tags.createTagForWorkspace({ data: { name: 'bug' } }, WS, {})) as {
      data: Record<string, unknown>;
    };
    assert.equal(made.data['resource_type'], 'tag');
    assert.equal(made.data['name'], 'bug');
    assert.deepEqual(made.data['workspace'], {
      gid: WS,
      resource_type: 'workspace',
      name: 'Example Workspace (sandbox)',
    });
    assert.match(String(made.data['created_at']), /^\d{4}-\d\d-\d\dT/);
    const viaTags = (await t.bot.tags.createTag(
      { data: { name: 'ui', workspace: WS } },
      { opt_fields: 'name' },
    )) as {
      data: unknown;
    };
    assert.match(JSON.stringify(viaTags.data), /"name":"ui"/);
    const noWorkspace = await rejection(t.bot.tags.createTag({ data: { name: 'x' } }, {}));
    assert.equal(noWorkspace.status, 400);
    assert.equal(noWorkspace.response.body.errors[0]!.message, 'workspace: Missing input');
    const badColor = await rejection(
      t.bot.tags.createTagForWorkspace({ data: { name: 'x', color: 'neon' } }, WS, {}),
    );
    assert.equal(badColor.status, 400, 'validated against the spec’s color enum');
    const names = ((await t.bot.tags.getTags({ workspace: WS })).data as { name: string }[]).map(
      (x) => x.name,
    );
    assert.deepEqual(names, ['customer', 'bug', 'ui']);
    const one = (await t.bot.tags.getTag(String(made.data['gid']), { opt_fields: 'name' })) as {
      data: unknown;
    };
    assert.deepEqual(one.data, { gid: made.data['gid'], name: 'bug' });
  });

  it('addTag / removeTag change the task’s tags; each change is a `changed` event on field tags', async () => {
    const bug = ((await t.bot.tags.getTags({ workspace: WS })).data as { gid: string; name: string }[]).find(
      (x) => x.name === 'bug',
    )!.gid;
    const first = await rejection(t.bot.events.getEvents(PROJECT, {}));
    const sync = first.response.body.sync!;
    const before = (
      (await t.bot.tasks.getTask(TASK, { opt_fields: 'modified_at' })) as {
        data: { modified_at: string };
      }
    ).data.modified_at;

    assert.deepEqual(await t.alice.tasks.addTagForTask({ data: { tag: CUSTOMER } }, TASK), { data: {} });
    await t.alice.tasks.addTagForTask({ data: { tag: bug } }, TASK);
    await t.alice.tasks.addTagForTask({ data: { tag: bug } }, TASK); // already there: no change
    assert.deepEqual(await tagsOf(TASK), [
      { gid: CUSTOMER, name: 'customer' },
      { gid: bug, name: 'bug' },
    ]);
    const listed = await t.bot.tags.getTagsForTask(TASK, {});
    assert.deepEqual(
      (listed.data as { name: string }[]).map((x) => x.name),
      ['customer', 'bug'],
    );
    await t.bot.tasks.removeTagForTask({ data: { tag: CUSTOMER } }, TASK);
    await t.bot.tasks.removeTagForTask({ data: { tag: CUSTOMER } }, TASK); // not there: no change
    assert.deepEqual(await tagsOf(TASK), [{ gid: bug, name: 'bug' }]);

    const page = await t.bot.events.getEvents(PROJECT, { sync });
    const events = page.data as {
      user: { gid: string };
      action: string;
      resource: { gid: string; resource_type: string };
      parent: unknown;
      change?: { field: string; action: string };
    }[];
    assert.deepEqual(
      events.map((e) => [e.user.gid, e.action, e.resource.gid, e.parent, e.change]),
      [
        [USERS['alice'], 'changed', TASK, null, { field: 'tags', action: 'added' }],
        [USERS['alice'], 'changed', TASK, null, { field: 'tags', action: 'added' }],
        [USERS['lockstep'], 'changed', TASK, null, { field: 'tags', action: 'removed' }],
      ],
    );
    const after = (
      (await t.bot.tasks.getTask(TASK, { opt_fields: 'modified_at' })) as {
        data: { modified_at: string };
      }
    ).data.modified_at;
    assert.equal(after, before, 'tags are not among the changes the spec says move modified_at');
  });

  it('refuses an unknown tag and a body without `tag`; an unknown task is 404', async () => {
    const unknown = await rejection(t.bot.tasks.addTagForTask({ data: { tag: '999' } }, TASK));
    assert.equal(unknown.status, 400);
    assert.match(unknown.response.body.errors[0]!.message, /^tag: Not a recognized ID: 999/);
    const missing = await rejection(t.bot.tasks.addTagForTask({ data: {} }, TASK));
    assert.equal(missing.status, 400);
    assert.match(missing.response.body.errors[0]!.message, /^tag: |required property 'tag'/);
    const noTask = await rejection(t.bot.tasks.removeTagForTask({ data: { tag: CUSTOMER } }, '999'));
    assert.equal(noTask.status, 404);
  });
});
