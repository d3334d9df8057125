import assert from 'node:assert/strict';
import Asana from 'asana';
import { after, before, describe, it } from 'node:test';
import { DEMO_TOKENS, PRIORITY_FIELD, demoSeed, startAsanaEmulator, withPriorityField } from './index.ts';
import { PROJECT, Receiver, rejection, sdk } from './helpers.ts';

const CF =
  'custom_fields.gid,custom_fields.name,custom_fields.enabled,custom_fields.enum_value.gid,custom_fields.enum_value.name';
const OPT = PRIORITY_FIELD.options;

async function start(opts: Parameters<typeof withPriorityField>[1] = {}) {
  const emu = await startAsanaEmulator({
    webhookTimeScale: 0.00001,
    seed: withPriorityField(demoSeed(), opts),
  });
  const bot = sdk(emu.apiUrl, DEMO_TOKENS.bot);
  const client = new Asana.ApiClient();
  client.basePath = emu.apiUrl;
  client.authentications['token'].accessToken = DEMO_TOKENS.bot;
  return {
    emu,
    bot,
    settings: new Asana.CustomFieldSettingsApi(client),
    fields: new Asana.CustomFieldsApi(client),
  };
}

type Task = { data: { gid: string; custom_fields: Record<string, unknown>[] } };

describe('asana emulator: enum custom fields (Premium)', () => {
  let t: Awaited<ReturnType<typeof start>>;
  before(async () => {
    t = await start();
  });
  after(() => t.emu.close());

  it("lists a project's custom field settings and a field's definition with its options", async () => {
    const list = (await t.settings.getCustomFieldSettingsForProject(PROJECT, {
      opt_fields:
        'custom_field.gid,custom_field.name,custom_field.enum_options.name,custom_field.enum_options.enabled',
    })) as { data: { gid: string }[] };
    assert.match(list.data[0]?.gid ?? '', /^\d+$/);
    assert.deepEqual(list.data, [
      {
        gid: list.data[0]?.gid,
        custom_field: {
          gid: PRIORITY_FIELD.gid,
          name: 'Priority',
          enum_options: [
            { gid: OPT.Urgent, name: 'Urgent', enabled: true },
            { gid: OPT.High, name: 'High', enabled: true },
            { gid: OPT.Medium, name: 'Medium', enabled: true },
            { gid: OPT.Low, name: 'Low', enabled: true },
            { gid: OPT.Someday, name: 'Someday', enabled: false },
          ],
        },
      },
    ]);
    const field = (await t.fields.getCustomField(PRIORITY_FIELD.gid, {})) as {
      data: Record<string, unknown>;
    };
    assert.equal(field.data['resource_type'], 'custom_field');
    assert.equal(field.data['resource_subtype'], 'enum');
    assert.equal(field.data['name'], 'Priority');
  });

  it('sets an option on create, changes and clears it, and tasks read it back as enum_value', async () => {
    const made = (await t.bot.tasks.createTask(
      { data: { name: 'P', projects: [PROJECT], custom_fields: { [PRIORITY_FIELD.gid]: OPT.High } } },
      { opt_fields: CF },
    )) as Task;
    assert.deepEqual(made.data.custom_fields, [
      {
        gid: PRIORITY_FIELD.gid,
        name: 'Priority',
        enabled: true,
        enum_value: { gid: OPT.High, name: 'High' },
      },
    ]);
    const changed = (await t.bot.tasks.updateTask(
      { data: { custom_fields: { [PRIORITY_FIELD.gid]: OPT.Urgent } } },
      made.data.gid,
      { opt_fields: CF },
    )) as Task;
    assert.deepEqual(changed.data.custom_fields[0]?.['enum_value'], { gid: OPT.Urgent, name: 'Urgent' });
    const cleared = (await t.bot.tasks.updateTask(
      { data: { custom_fields: { [PRIORITY_FIELD.gid]: null } } },
      made.data.gid,
      { opt_fields: CF },
    )) as Task;
    assert.equal(cleared.data.custom_fields[0]?.['enum_value'], null);
    const stories = (await t.bot.stories.getStoriesForTask(made.data.gid, {
      opt_fields: 'resource_subtype,text',
    })) as { data: { resource_subtype: string; text: string }[] };
    assert.deepEqual(
      stories.data.filter((s) => s.resource_subtype === 'enum_custom_field_changed').map((s) => s.text),
      ['changed Priority to "Urgent"', 'cleared Priority'],
    );
  });

  it('refuses an unknown option, a disabled option and a field the project does not have (400)', async () => {
    const made = (await t.bot.tasks.createTask({ data: { name: 'Q', projects: [PROJECT] } }, {})) as Task;
    const gid = made.data.gid;
    const unknown = await rejection(
      t.bot.tasks.updateTask({ data: { custom_fields: { [PRIORITY_FIELD.gid]: '999' } } }, gid, {}),
    );
    assert.equal(unknown.status, 400);
    assert.match(unknown.response.body.errors[0]!.message, /Not a valid enum option of Priority: 999/);
    const disabled = await rejection(
      t.bot.tasks.updateTask({ data: { custom_fields: { [PRIORITY_FIELD.gid]: OPT.Someday } } }, gid, {}),
    );
    assert.equal(disabled.status, 400);
    assert.match(disabled.response.body.errors[0]!.message, /is disabled/);
    const noField = await rejection(
      t.bot.tasks.updateTask({ data: { custom_fields: { '42': OPT.High } } }, gid, {}),
    );
    assert.equal(noField.status, 400);
    // A refused value refuses the whole request: the name did not change either.
    await rejection(
      t.bot.tasks.updateTask(
        { data: { name: 'renamed', custom_fields: { [PRIORITY_FIELD.gid]: '999' } } },
        gid,
        {},
      ),
    );
    const read = (await t.bot.tasks.getTask(gid, { opt_fields: `name,${CF}` })) as { data: { name: string } };
    assert.equal(read.data.name, 'Q');
    const outside = (await t.bot.tasks.createTask(
      { data: { name: 'no project', workspace: demoSeed().workspaces[0]!.gid } },
      { opt_fields: CF },
    )) as Task;
    assert.deepEqual(outside.data.custom_fields, []);
    const notOnProject = await rejection(
      t.bot.tasks.updateTask(
        { data: { custom_fields: { [PRIORITY_FIELD.gid]: OPT.High } } },
        outside.data.gid,
        {},
      ),
    );
    assert.equal(notOnProject.status, 400);
    assert.match(notOnProject.response.body.errors[0]!.message, /is not on any project/);
  });

  it("sends a task 'changed' event with change.field custom_fields", async () => {
    const rx = await new Receiver().start();
    try {
      const made = (await t.bot.tasks.createTask({ data: { name: 'E', projects: [PROJECT] } }, {})) as Task;
      await t.bot.webhooks.createWebhook({ data: { resource: made.data.gid, target: rx.url } }, {});
      await t.bot.tasks.updateTask(
        { data: { custom_fields: { [PRIORITY_FIELD.gid]: OPT.Low } } },
        made.data.gid,
        {},
      );
      await rx.waitFor(1);
      const changes = rx
        .events()
        .filter((e) => e['action'] === 'changed')
        .map((e) => e['change']);
      assert.deepEqual(changes, [{ field: 'custom_fields', action: 'changed' }]);
    } finally {
      await rx.close();
    }
  });
});

describe('asana emulator: locked fields and workspaces without Premium', () => {
  it('a locked field answers 403 to a write and still reads', async () => {
    const t = await start({ locked: true });
    try {
      const made = (await t.bot.tasks.createTask(
        { data: { name: 'L', projects: [PROJECT] } },
        { opt_fields: CF },
      )) as Task;
      assert.equal(made.data.custom_fields[0]?.['enum_value'], null);
      const e = await rejection(
        t.bot.tasks.updateTask(
          { data: { custom_fields: { [PRIORITY_FIELD.gid]: OPT.High } } },
          made.data.gid,
          {},
        ),
      );
      assert.equal(e.status, 403);
      assert.match(e.response.body.errors[0]!.message, /Priority is locked/);
    } finally {
      await t.emu.close();
    }
  });

  it('without Premium: custom field reads and writes answer 402, tasks show no custom fields', async () => {
    const t = await start({ premium: false });
    try {
      const settings = await rejection(t.settings.getCustomFieldSettingsForProject(PROJECT, {}));
      assert.equal(settings.status, 402);
      assert.match(settings.response.body.errors[0]!.message, /not available for free/);
      const made = (await t.bot.tasks.createTask(
        { data: { name: 'F', projects: [PROJECT] } },
        { opt_fields: CF },
      )) as Task;
      assert.deepEqual(made.data.custom_fields, []);
      const write = await rejection(
        t.bot.tasks.updateTask(
          { data: { custom_fields: { [PRIORITY_FIELD.gid]: OPT.High } } },
          made.data.gid,
          {},
        ),
      );
      assert.equal(write.status, 402);
    } finally {
      await t.emu.close();
    }
  });
});
