/**
 * The reader (`lockstep verify`) against the Linear emulator (test/emulators/linear, test
 * infrastructure — not Linear), through @linear/sdk exactly as in production.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { WriteCommand } from '../../../schemas/generated/types.ts';
import { demoSeed, LINEAR_DEMO_TOKENS, startLinearEmulator } from '../../../test/emulators/linear/index.ts';
import { entityState } from '../types.ts';
import { createLinearApplier } from './apply.ts';
import { linearConfigSchema, type LinearConfig } from './config.ts';
import { createLinearPoller } from './poll.ts';
import { createLinearReader } from './read.ts';

let emu: Awaited<ReturnType<typeof startLinearEmulator>>;
let config: LinearConfig;
before(async () => {
  emu = await startLinearEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
  config = linearConfigSchema.parse({
    apiKey: LINEAR_DEMO_TOKENS.bot,
    webhookSecret: 'unused',
    apiUrl: `${emu.url}/graphql`,
    teams: ['ENG'],
  });
});
after(() => emu.close());

const cmd = (over: Partial<WriteCommand>): WriteCommand => ({
  commandId: `cmd-${Math.random().toString(36).slice(2)}`,
  linkId: 'link-1',
  flowId: 'flow-1',
  platform: 'linear',
  workspace: 'ENG',
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
  createdAtMs: 0,
  ...over,
});
const source = { via: 'backfill' as const, deliveryId: 'lockstep-verify:t' };

test('reads an issue and a comment as the poller does; deleted ones are gone', async () => {
  const applier = createLinearApplier({ config, botUserId: null });
  const issue = await applier.apply(
    cmd({ fields: entityState({ title: 'Read me', priority: 'high' }), marker: 'read-link-1' }),
  );
  const comment = await applier.apply(
    cmd({
      entityType: 'comment',
      parentId: issue.targetId,
      marker: 'read-comment-1',
      fields: entityState({ body: 'A comment' }),
    }),
  );
  const reader = createLinearReader({ config, botUserId: null });
  const ri = await reader.read({ entityType: 'issue', entityId: issue.targetId, parentId: null }, source);
  assert.ok(ri.found);
  assert.equal(ri.event.op, 'r');
  assert.equal(ri.event.source.via, 'backfill');
  assert.equal(ri.event.source.deliveryId, 'lockstep-verify:t');
  assert.equal(ri.event.source.workspace, 'ENG');
  assert.equal(ri.event.after?.title, 'Read me');
  assert.equal(ri.event.after?.priority, 'high');
  assert.equal(ri.event.source.marker, 'read-link-1');
  const rc = await reader.read(
    { entityType: 'comment', entityId: comment.targetId, parentId: issue.targetId },
    source,
  );
  assert.ok(rc.found);
  assert.equal(rc.event.after?.body, 'A comment');

  // The same record, the same event id as the poller's (the same normalization).
  const polled = (await createLinearPoller({ config, botUserId: null }).poll(null)).events;
  assert.equal(polled.find((e) => e.source.entityId === issue.targetId)?.eventId, ri.event.eventId);
  assert.equal(polled.find((e) => e.source.entityId === comment.targetId)?.eventId, rc.event.eventId);

  await applier.apply(cmd({ action: 'delete', entityType: 'comment', targetId: comment.targetId }));
  const goneComment = await reader.read(
    { entityType: 'comment', entityId: comment.targetId, parentId: issue.targetId },
    source,
  );
  assert.equal(goneComment.found, false);
  await applier.apply(cmd({ action: 'delete', targetId: issue.targetId }));
  const goneIssue = await reader.read(
    { entityType: 'issue', entityId: issue.targetId, parentId: null },
    source,
  );
  // The emulator answers a trashed issue as unknown; one read with `archivedAt` set is gone too.
  assert.equal(goneIssue.found, false);
  const never = await reader.read(
    { entityType: 'issue', entityId: '00000000-0000-4000-8000-000000000000', parentId: null },
    source,
  );
  assert.deepEqual(never, {
    found: false,
    detail: 'linear has no issue 00000000-0000-4000-8000-000000000000',
  });
});
