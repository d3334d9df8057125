import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROJECT, WS, rejection, startSeeded } from './helpers.ts';

/** Requests Asana would refuse get Asana's status and `{errors:[{message, help}]}` body. */
describe('asana emulator: spec-violating and refused requests', () => {
  let t: Awaited<ReturnType<typeof startSeeded>>;
  before(async () => {
    t = await startSeeded();
  });
  after(() => t.emu.close());

  const message = (e: { response: { body: { errors: { message: string }[] } } }) =>
    e.response.body.errors[0]!.message;

  it('wrong types and unknown enum values (validated against asana_oas.yaml) → 400', async () => {
    const wrongType = await rejection(
      t.bot.tasks.updateTask({ data: { completed: 'yes' } }, '1100000000001001', {}),
    );
    assert.equal(wrongType.status, 400);
    assert.match(message(wrongType), /^completed: must be boolean/);
    assert.match(String(wrongType.response.body.errors[0]!.help), /developers\.asana\.com/);
    const badEnum = await rejection(
      t.bot.tasks.createTask({ data: { name: 'x', workspace: WS, resource_subtype: 'epic' } }, {}),
    );
    assert.equal(badEnum.status, 400);
    assert.match(message(badEnum), /^resource_subtype: must be equal to one of the allowed values/);
    const badDate = await rejection(
      t.bot.tasks.updateTask({ data: { due_on: 'tomorrow' } }, '1100000000001001', {}),
    );
    assert.equal(badDate.status, 400);
    assert.match(message(badDate), /^due_on: must match format "date"/);
    // Nothing changed.
    const task = (await t.bot.tasks.getTask('1100000000001001', { opt_fields: 'completed,due_on' })) as {
      data: unknown;
    };
    assert.deepEqual(task.data, { gid: '1100000000001001', completed: false, due_on: '2030-01-15' });
  });

  it('missing required input → 400 "<field>: Missing input"', async () => {
    const noWorkspace = await rejection(t.bot.tasks.createTask({ data: { name: 'orphan' } }, {}));
    assert.equal(noWorkspace.status, 400);
    assert.equal(message(noWorkspace), 'workspace: Missing input');
    // GET /tasks with no project/tag/assignee+workspace: Asana's documented example error.
    const noFilter = await rejection(t.bot.tasks.getTasks({}));
    assert.equal(noFilter.status, 400);
    assert.equal(message(noFilter), 'workspace: Missing input');
    const noTarget = await rejection(t.bot.webhooks.createWebhook({ data: { resource: PROJECT } }, {}));
    assert.equal(noTarget.status, 400);
    assert.match(message(noTarget), /must have required property 'target'/);
    const noText = await rejection(t.bot.stories.createStoryForTask({ data: {} }, '1100000000001001', {}));
    assert.equal(noText.status, 400);
    assert.equal(message(noText), 'text: Missing input');
    const workspaceHook = await rejection(
      t.bot.webhooks.createWebhook({ data: { resource: WS, target: 'http://127.0.0.1:1/x' } }, {}),
    );
    assert.equal(workspaceHook.status, 400);
    assert.match(message(workspaceHook), /^filters:/);
  });

  it('limit outside 1..100, a forged offset, invalid rich text → 400', async () => {
    const big = await rejection(t.bot.tasks.getTasks({ project: PROJECT, limit: 101 }));
    assert.equal(big.status, 400);
    assert.match(message(big), /^limit:/);
    const forged = await rejection(
      t.bot.tasks.getTasks({ project: PROJECT, limit: 10, offset: 'not-a-token' }),
    );
    assert.equal(forged.status, 400);
    assert.match(message(forged), /^offset:/);
    const xml = await rejection(
      t.bot.tasks.updateTask({ data: { html_notes: '<body><em>unclosed</body>' } }, '1100000000001001', {}),
    );
    assert.equal(xml.status, 400);
    assert.match(message(xml), /^html_notes:/);
  });

  it('unknown objects → 404; no token → 401 "Not Authorized"', async () => {
    const missing = await rejection(t.bot.tasks.getTask('999', {}));
    assert.equal(missing.status, 404);
    assert.match(message(missing), /^task: Unknown object: 999/);
    const noExternal = await rejection(t.bot.tasks.getTask('external:nope', {}));
    assert.equal(noExternal.status, 404);
    const res = await fetch(`${t.emu.apiUrl}/users/me`);
    assert.equal(res.status, 401);
    assert.deepEqual(
      ((await res.json()) as { errors: { message: string }[] }).errors[0]!.message,
      'Not Authorized',
    );
    const ledger = await t.control.ledger();
    assert.equal(ledger.entries.at(-1)!.actor, 'anonymous');
    assert.equal(ledger.entries.at(-1)!.status, 401);
  });

  it('a second task with the same external gid is refused (emulator assumption, see README)', async () => {
    await t.bot.tasks.createTask({ data: { name: 'one', workspace: WS, external: { gid: 'dup-1' } } }, {});
    const again = await rejection(
      t.bot.tasks.createTask({ data: { name: 'two', workspace: WS, external: { gid: 'dup-1' } } }, {}),
    );
    assert.equal(again.status, 400);
    assert.match(message(again), /^external\.gid:/);
  });

  it('an Asana route the emulator does not model says so (501), instead of pretending', async () => {
    const e = await rejection(t.bot.tasks.duplicateTask({ data: { name: 'copy' } }, '1100000000001001', {}));
    assert.equal(e.status, 501);
    assert.match(message(e), /Not implemented by the Lockstep Asana emulator: duplicateTask/);
  });
});
