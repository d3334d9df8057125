/**
 * Priority as an enum custom field (connectors.asana.priority), read by normalize and written by
 * apply, against the Asana emulator (test/emulators/asana, test infrastructure — not Asana) with a
 * Priority field seeded: set, change, clear, an option that does not exist, a field locked by
 * someone else, a workspace without Premium, and priority not configured at all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { WriteCommand } from '../../../schemas/generated/types.ts';
import {
  DEMO_TOKENS,
  PRIORITY_FIELD,
  demoSeed,
  startAsanaEmulator,
  withPriorityField,
} from '../../../test/emulators/asana/index.ts';
import { entityState } from '../types.ts';
import { createAsanaApplier } from './apply.ts';
import { asanaApis } from './client.ts';
import { asanaConfigSchema, type AsanaConfig } from './config.ts';
import { asanaConnector } from './index.ts';
import { taskFields, TASK_FIELDS, type AsanaTask } from './model.ts';
import { priorityOf, taskState } from './normalize.ts';

const PROJECT = '1100000000000100';
const OPT = PRIORITY_FIELD.options;

const base = { accessToken: 't', projects: [PROJECT] };
const parse = (over: Record<string, unknown> = {}) => asanaConfigSchema.parse({ ...base, ...over });
const withPriority = parse({ priority: { field: 'Priority' } });

const task = (custom_fields: AsanaTask['custom_fields']): AsanaTask => ({ gid: '1', custom_fields });
const entry = (name: string | null) => ({
  gid: PRIORITY_FIELD.gid,
  name: 'Priority',
  enum_value: name === null ? null : { gid: '9', name },
});

describe('config: connectors.asana.priority', () => {
  test('is optional; options default to Urgent/High/Medium/Low and none → empty', () => {
    assert.equal(parse().priority, undefined);
    assert.deepEqual(withPriority.priority, {
      field: 'Priority',
      options: { urgent: 'Urgent', high: 'High', medium: 'Medium', low: 'Low', none: null },
    });
  });

  test('refuses unknown keys, unknown priorities and one option for two priorities', () => {
    assert.throws(() => parse({ priority: { field: 'P', extra: 1 } }));
    assert.throws(() => parse({ priority: { field: 'P', options: { critical: 'Critical' } } }));
    assert.throws(
      () => parse({ priority: { field: 'P', options: { urgent: 'High', high: 'high' } } }),
      /option high is already urgent's/,
    );
  });

  test('without it, the connector warns once at start naming the key; with it, nothing', () => {
    assert.deepEqual(asanaConnector.bind(parse()).startupWarnings?.(), [
      'connectors.asana.priority is not set: priority is not synced with Asana',
    ]);
    assert.deepEqual(asanaConnector.bind(withPriority).startupWarnings?.(), []);
  });
});

describe('normalize: priority from the enum value', () => {
  test('maps options by name (any case), an empty field to none', () => {
    assert.equal(priorityOf(task([entry('High')]), withPriority), 'high');
    assert.equal(priorityOf(task([entry('urgent')]), withPriority), 'urgent');
    assert.equal(priorityOf(task([entry(null)]), withPriority), 'none');
    assert.equal(taskState(task([entry('Low')]), withPriority).known.includes('priority'), true);
  });

  test('finds the field by gid too, and ignores other custom fields', () => {
    const byGid = parse({ priority: { field: PRIORITY_FIELD.gid } });
    const other = { gid: '77', name: 'Effort', enum_value: { gid: '78', name: 'High' } };
    assert.equal(priorityOf(task([other, entry('Medium')]), byGid), 'medium');
    assert.equal(priorityOf(task([other]), byGid), undefined);
  });

  test('an option no priority names, a task without the field and no config leave priority unknown', () => {
    const unknown = [
      taskState(task([entry('Someday')]), withPriority),
      taskState(task([]), withPriority),
      taskState(task(undefined), withPriority),
      taskState(task([entry('High')]), parse()),
    ];
    for (const s of unknown) {
      assert.equal(s.priority, null);
      assert.equal(s.known.includes('priority'), false);
    }
  });

  test('the custom fields are asked for only with priority configured', () => {
    assert.equal(taskFields(parse()), TASK_FIELDS);
    assert.match(taskFields(withPriority), /custom_fields\.enum_value\.name/);
  });
});

type Emu = Awaited<ReturnType<typeof startAsanaEmulator>>;

function harness(seedOpts: Parameters<typeof withPriorityField>[1]) {
  const h = {} as { emu: Emu; config: AsanaConfig };
  before(async () => {
    h.emu = await startAsanaEmulator({
      seed: withPriorityField(demoSeed(), seedOpts),
      webhookTimeScale: 0.001,
    });
    h.config = asanaConfigSchema.parse({
      accessToken: DEMO_TOKENS.bot,
      baseUrl: h.emu.apiUrl,
      projects: [PROJECT],
      priority: {
        field: 'Priority',
        options: { urgent: 'Urgent', high: 'High', medium: 'Medium', low: 'Nope' },
      },
    });
  });
  after(() => h.emu.close());
  return h;
}

const cmd = (over: Partial<WriteCommand>): WriteCommand => ({
  commandId: `cmd-${Math.random().toString(36).slice(2)}`,
  linkId: 'link-p',
  flowId: 'flow-1',
  platform: 'asana',
  workspace: PROJECT,
  action: 'update',
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

async function optionOn(config: AsanaConfig, gid: string): Promise<string | null> {
  const r = (await asanaApis(config).tasks.getTask(gid, {
    opt_fields: 'custom_fields.gid,custom_fields.enum_value.gid',
  })) as { data: { custom_fields: { gid: string; enum_value: { gid: string } | null }[] } };
  return r.data.custom_fields.find((f) => f.gid === PRIORITY_FIELD.gid)?.enum_value?.gid ?? null;
}

describe('apply: priority on a Premium workspace', () => {
  const h = harness({});

  test('a create sets it, updates change and clear it, and the option lookup is cached', async () => {
    const a = createAsanaApplier({ config: h.config, botUserId: null });
    const made = await a.apply(
      cmd({ action: 'create', marker: 'p-1', fields: entityState({ title: 'P', priority: 'high' }) }),
    );
    assert.deepEqual(made.skipped, []);
    assert.equal(made.written?.priority, 'high');
    assert.equal(await optionOn(h.config, made.targetId), OPT.High);

    const before = h.emu.ledger.list().at(-1)?.seq ?? 0;
    const changed = await a.apply(
      cmd({
        targetId: made.targetId,
        fields: entityState({ priority: 'urgent' }),
        base: entityState({ priority: 'high' }),
      }),
    );
    assert.deepEqual(changed.skipped, []);
    assert.equal(changed.written?.priority, 'urgent');
    assert.equal(changed.before?.priority, 'high');
    assert.equal(await optionOn(h.config, made.targetId), OPT.Urgent);
    const settingsReads = h.emu.ledger
      .list(before)
      .filter((e) => e.method === 'GET' && e.path.endsWith('/custom_field_settings')).length;
    assert.equal(settingsReads, 0, "the project's custom field settings were read once, at the create");

    const cleared = await a.apply(
      cmd({ targetId: made.targetId, fields: entityState({ priority: 'none' }) }),
    );
    assert.deepEqual(cleared.skipped, []);
    assert.equal(cleared.written?.priority, 'none');
    assert.equal(await optionOn(h.config, made.targetId), null);
  });

  test('a stale base skips priority and writes the rest', async () => {
    const a = createAsanaApplier({ config: h.config, botUserId: null });
    const made = await a.apply(
      cmd({ action: 'create', marker: 'p-2', fields: entityState({ title: 'S', priority: 'medium' }) }),
    );
    const r = await a.apply(
      cmd({
        targetId: made.targetId,
        fields: entityState({ title: 'S2', priority: 'urgent' }),
        base: entityState({ title: 'S', priority: 'low' }),
      }),
    );
    assert.deepEqual(
      r.skipped.map((s) => [s.field, s.reason]),
      [['priority', 'stale_base']],
    );
    assert.equal(r.written?.title, 'S2');
    assert.equal(await optionOn(h.config, made.targetId), OPT.Medium);
  });

  test('an option the field does not have is unresolvable, saying which; the other fields land', async () => {
    const a = createAsanaApplier({ config: h.config, botUserId: null });
    const made = await a.apply(cmd({ action: 'create', marker: 'p-3', fields: entityState({ title: 'U' }) }));
    const r = await a.apply(
      cmd({ targetId: made.targetId, fields: entityState({ title: 'U2', priority: 'low' }) }),
    );
    assert.equal(r.skipped.length, 1);
    assert.equal(r.skipped[0]?.field, 'priority');
    assert.equal(r.skipped[0]?.reason, 'unresolvable');
    assert.match(r.skipped[0]!.detail, /custom field Priority has no option "Nope" \(for priority low\)/);
    assert.equal(r.written?.title, 'U2');
    assert.equal(r.written?.priority, 'none');
  });
});

describe('apply: a locked priority field', () => {
  const h = harness({ locked: true });

  test('403 → priority unresolvable saying it is locked; the title still lands', async () => {
    const a = createAsanaApplier({ config: h.config, botUserId: null });
    const made = await a.apply(
      cmd({ action: 'create', marker: 'l-1', fields: entityState({ title: 'L', priority: 'high' }) }),
    );
    assert.equal(made.written?.title, 'L');
    assert.deepEqual(
      made.skipped.map((s) => [s.field, s.reason]),
      [['priority', 'unresolvable']],
    );
    assert.match(made.skipped[0]!.detail, /locked by another user/);
    assert.match(made.skipped[0]!.detail, /\(403\): custom_fields: Priority is locked/);
    const r = await a.apply(
      cmd({ targetId: made.targetId, fields: entityState({ title: 'L2', priority: 'urgent' }) }),
    );
    assert.equal(r.written?.title, 'L2');
    assert.equal(r.written?.priority, 'none');
    assert.deepEqual(
      r.skipped.map((s) => [s.field, s.reason]),
      [['priority', 'unresolvable']],
    );
    // Priority alone: nothing else to send, nothing thrown.
    const alone = await a.apply(cmd({ targetId: made.targetId, fields: entityState({ priority: 'high' }) }));
    assert.deepEqual(
      alone.skipped.map((s) => [s.field, s.reason]),
      [['priority', 'unresolvable']],
    );
  });
});

describe('apply: a workspace without Premium', () => {
  const h = harness({ premium: false });

  test('402 → priority unresolvable saying Premium is missing; the title still lands', async () => {
    const a = createAsanaApplier({ config: h.config, botUserId: null });
    const made = await a.apply(
      cmd({ action: 'create', marker: 'f-1', fields: entityState({ title: 'F', priority: 'high' }) }),
    );
    assert.equal(made.written?.title, 'F');
    assert.equal(made.written?.known.includes('priority'), false, 'no custom fields to read either');
    assert.deepEqual(
      made.skipped.map((s) => [s.field, s.reason]),
      [['priority', 'unresolvable']],
    );
    assert.match(made.skipped[0]!.detail, /Asana answered 402 .* Premium feature/);
  });
});

describe('apply: priority not configured', () => {
  const h = harness({});

  test('is neither written nor read back, and costs no custom field request', async () => {
    const { priority: _unused, ...config } = h.config;
    const a = createAsanaApplier({ config, botUserId: null });
    const made = await a.apply(
      cmd({ action: 'create', marker: 'n-1', fields: entityState({ title: 'N', priority: 'urgent' }) }),
    );
    assert.deepEqual(made.skipped, []);
    assert.equal(made.written?.known.includes('priority'), false);
    assert.equal(await optionOn(h.config, made.targetId), null);
    assert.equal(
      h.emu.ledger.list().filter((e) => e.path.includes('custom_field')).length,
      0,
      'no custom field settings read',
    );
  });
});
