/**
 * The reader (`lockstep verify`) against the Jira emulator (test/emulators/jira, test
 * infrastructure — not Jira), through jira.js exactly as in production.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { WriteCommand } from '../../../schemas/generated/types.ts';
import {
  DEMO_BOT_TOKEN,
  demoSeed,
  startJiraEmulator,
  type JiraEmulator,
} from '../../../test/emulators/jira/index.ts';
import type { RunningEmulator } from '../../../test/emulators/common/server.ts';
import { entityState } from '../types.ts';
import { createJiraApplier } from './apply.ts';
import { jiraConfigSchema, type JiraConfig } from './config.ts';
import { createJiraReader } from './read.ts';

let emu: RunningEmulator & { jira: JiraEmulator };
let config: JiraConfig;
before(async () => {
  emu = await startJiraEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
  config = jiraConfigSchema.parse({
    host: emu.url,
    email: 'lockstep-bot@example.com',
    apiToken: DEMO_BOT_TOKEN,
    webhookSecret: 'unused-here',
    projects: ['ENG'],
  });
});
after(() => emu.close());

const cmd = (over: Partial<WriteCommand>): WriteCommand => ({
  commandId: `cmd-${Math.random().toString(36).slice(2)}`,
  linkId: 'link-1',
  flowId: 'flow-1',
  platform: 'jira',
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

test('reads an issue (with its marker) and a comment under it; deleted ones answer 404 and are gone', async () => {
  const applier = createJiraApplier({ config, botUserId: null });
  const issue = await applier.apply(
    cmd({
      fields: entityState({ title: 'Read me', priority: 'high', labels: ['x'] }),
      marker: 'read-link-1',
    }),
  );
  const comment = await applier.apply(
    cmd({
      entityType: 'comment',
      parentId: issue.targetId,
      marker: 'read-comment-1',
      fields: entityState({ body: 'A comment' }),
    }),
  );
  const reader = createJiraReader({ config, botUserId: null });
  const ri = await reader.read({ entityType: 'issue', entityId: issue.targetId, parentId: null }, source);
  assert.ok(ri.found);
  assert.equal(ri.event.op, 'r');
  assert.deepEqual([ri.event.source.via, ri.event.source.deliveryId], ['backfill', 'lockstep-verify:t']);
  assert.equal(ri.event.source.workspace, 'ENG');
  assert.equal(ri.event.source.entityKey, issue.targetKey);
  assert.equal(ri.event.after?.title, 'Read me');
  assert.equal(ri.event.after?.priority, 'high');
  assert.deepEqual(ri.event.after?.labels, ['x']);
  assert.equal(ri.event.source.marker, 'read-link-1');

  const rc = await reader.read(
    { entityType: 'comment', entityId: comment.targetId, parentId: issue.targetId },
    source,
  );
  assert.ok(rc.found);
  assert.equal(rc.event.after?.body, 'A comment');
  assert.equal(rc.event.source.parentId, issue.targetId);
  await assert.rejects(
    reader.read({ entityType: 'comment', entityId: comment.targetId, parentId: null }, source),
    /read under its issue/,
  );

  await applier.apply(
    cmd({ action: 'delete', entityType: 'comment', targetId: comment.targetId, parentId: issue.targetId }),
  );
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
  assert.deepEqual(goneIssue, { found: false, detail: `jira has no issue ${issue.targetId} (404)` });
});
