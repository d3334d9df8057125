/**
 * The reader (`lockstep verify`) against the Asana emulator (test/emulators/asana, test
 * infrastructure — not Asana), through the official asana SDK exactly as in production.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { WriteCommand } from '../../../schemas/generated/types.ts';
import { DEMO_TOKENS, demoSeed, startAsanaEmulator } from '../../../test/emulators/asana/index.ts';
import { entityState } from '../types.ts';
import { createAsanaApplier } from './apply.ts';
import { asanaApis } from './client.ts';
import { asanaConfigSchema, type AsanaConfig } from './config.ts';
import { classifyAsanaError } from './errors.ts';
import { createAsanaReader } from './read.ts';

const PROJECT = '1100000000000100';
const BOT = '1100000000000010';
const SEEDED_TASK = '1100000000001002';
const SEEDED_COMMENT = '1100000000002001';

let emu: Awaited<ReturnType<typeof startAsanaEmulator>>;
let config: AsanaConfig;
before(async () => {
  emu = await startAsanaEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
  config = asanaConfigSchema.parse({
    accessToken: DEMO_TOKENS.bot,
    baseUrl: emu.apiUrl,
    projects: [PROJECT],
    botUserId: BOT,
    statusCategories: { Backlog: 'backlog', 'To do': 'todo', 'In progress': 'in_progress', Done: 'done' },
  });
});
after(() => emu.close());

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
const source = { via: 'backfill' as const, deliveryId: 'lockstep-verify:t' };
const reader = () => createAsanaReader({ config, botUserId: BOT, now: () => 1_900_000_000_000 });

test('reads a task Lockstep made (with its marker) and a comment under it, as reads', async () => {
  const applier = createAsanaApplier({ config, botUserId: BOT });
  const task = await applier.apply(
    cmd({
      fields: entityState({
        title: 'Read me',
        description: 'Some _text_',
        status: { name: 'In progress', category: 'in_progress' },
      }),
      marker: 'read-link-1',
    }),
  );
  const read = await reader().read({ entityType: 'issue', entityId: task.targetId, parentId: null }, source);
  assert.ok(read.found);
  const e = read.event;
  assert.equal(e.op, 'r');
  assert.equal(e.tsMs, 1_900_000_000_000);
  assert.deepEqual(
    [e.source.platform, e.source.workspace, e.source.entityType, e.source.entityId, e.source.parentId],
    ['asana', PROJECT, 'issue', task.targetId, null],
  );
  assert.equal(e.source.via, 'backfill');
  assert.equal(e.source.deliveryId, 'lockstep-verify:t');
  assert.equal(e.source.marker, 'read-link-1');
  assert.equal(e.source.version, task.platformVersion, 'the version apply reported');
  assert.equal(e.after!.title, 'Read me');
  assert.equal(e.after!.description, 'Some _text_');
  assert.deepEqual(e.after!.status, { name: 'In progress', category: 'in_progress' });

  const comment = await applier.apply(
    cmd({
      entityType: 'comment',
      parentId: task.targetId,
      marker: 'read-comment-1',
      fields: entityState({ body: 'A **comment**' }),
    }),
  );
  const c = await reader().read(
    { entityType: 'comment', entityId: comment.targetId, parentId: null },
    source,
  );
  assert.ok(c.found);
  assert.equal(c.event.op, 'r');
  assert.equal(c.event.source.workspace, PROJECT, 'the workspace comes from the comment’s task');
  assert.equal(c.event.source.parentId, task.targetId);
  assert.equal(c.event.source.marker, 'read-comment-1');
  assert.equal(c.event.source.version, comment.platformVersion);
  assert.equal(c.event.after!.body, 'A **comment**');
  assert.equal(c.event.after!.author?.platformUserId, BOT);
});

test('a seeded comment by a person reads with its author', async () => {
  const c = await reader().read(
    { entityType: 'comment', entityId: SEEDED_COMMENT, parentId: SEEDED_TASK },
    { via: 'replay', deliveryId: null },
  );
  assert.ok(c.found);
  assert.equal(c.event.source.via, 'replay');
  assert.equal(c.event.source.deliveryId, null);
  assert.equal(c.event.source.marker, null);
  assert.equal(c.event.after!.body, 'I can reproduce it on Safari.');
  assert.equal(c.event.after!.author?.email, 'carol@example.com');
});

test('a deleted task and its comments answer 404: not found, with Asana’s words', async () => {
  const applier = createAsanaApplier({ config, botUserId: BOT });
  const task = await applier.apply(cmd({ fields: entityState({ title: 'Doomed' }), marker: 'read-gone-1' }));
  const comment = await applier.apply(
    cmd({
      entityType: 'comment',
      parentId: task.targetId,
      marker: 'read-gone-c',
      fields: entityState({ body: 'x' }),
    }),
  );
  await applier.apply(cmd({ action: 'delete', targetId: task.targetId }));
  const gone = await reader().read({ entityType: 'issue', entityId: task.targetId, parentId: null }, source);
  assert.equal(gone.found, false);
  assert.match(!gone.found ? gone.detail : '', new RegExp(`task: Unknown object: ${task.targetId}`));
  const goneComment = await reader().read(
    { entityType: 'comment', entityId: comment.targetId, parentId: task.targetId },
    source,
  );
  assert.equal(goneComment.found, false);
  assert.match(!goneComment.found ? goneComment.detail : '', /404/);
});

test('a system story is not a comment; other failures and entity types throw', async () => {
  const apis = asanaApis(config);
  await apis.tasks.updateTask({ data: { name: 'Renamed for a system story' } }, SEEDED_TASK, {});
  const stories = (await apis.stories.getStoriesForTask(SEEDED_TASK, { opt_fields: 'type' })) as {
    data: { gid: string; type: string }[];
  };
  const system = stories.data.find((s) => s.type === 'system')!;
  const r = await reader().read(
    { entityType: 'comment', entityId: system.gid, parentId: SEEDED_TASK },
    source,
  );
  assert.equal(r.found, false);
  assert.match(!r.found ? r.detail : '', /is not a comment \(system\)/);

  const refused = createAsanaReader({
    config: asanaConfigSchema.parse({
      baseUrl: emu.apiUrl,
      projects: [PROJECT],
      accessToken: 'never-issued',
    }),
    botUserId: BOT,
  });
  await assert.rejects(
    refused.read({ entityType: 'issue', entityId: SEEDED_TASK, parentId: null }, source),
    (err: unknown) => classifyAsanaError(err).credentialsRefused === true,
  );
  await assert.rejects(
    reader().read({ entityType: 'message', entityId: '1', parentId: null }, source),
    (err: unknown) => classifyAsanaError(err).category === 'validation',
  );
});
