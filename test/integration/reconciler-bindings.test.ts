/**
 * Bindings of entities to links on the real test Postgres: a record carrying our create marker is
 * bound to the link it names (no second link), and an entity already bound to another link is an
 * error (the service dead-letters the input), never hidden by the store's `on conflict do nothing`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createPool, migrate, type Pool } from '../../services/core/db/index.ts';
import { LockstepError } from '../../services/core/errors/index.ts';
import { entityState } from '../../services/connectors/types.ts';
import { flowSchema } from '../../services/reconciler/flow.ts';
import { deterministicId } from '../../services/reconciler/ids.ts';
import { processChange, processOutcome, type ProcessDeps } from '../../services/reconciler/process.ts';
import { createReconcilerStore, type ReconcilerStore } from '../../services/reconciler/store.ts';
import type { ChangeEvent, WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import { freshDatabase, testConfig } from './core-helpers.ts';

const flow = flowSchema.parse({
  id: 'eng',
  sides: [
    { platform: 'linear', workspace: 'ENG' },
    { platform: 'jira', workspace: 'ENG' },
  ],
  fields: { default: 'last-write-wins' },
});

function event(
  platform: string,
  entityId: string,
  tsMs: number,
  op: ChangeEvent['op'],
  marker: string | null = null,
): ChangeEvent {
  return {
    eventId: `${platform}:${entityId}:${tsMs}:${op}`,
    op,
    before: null,
    after: entityState({ title: 'Same title' }),
    source: {
      platform,
      workspace: 'ENG',
      entityType: 'issue',
      entityId,
      entityKey: null,
      parentId: null,
      via: marker ? 'poll' : 'webhook',
      deliveryId: null,
      actor: null,
      actorIsLockstep: false,
      marker,
      version: null,
      tsMs,
    },
    changedFields: ['title'],
    tsMs: tsMs + 1,
  };
}

function outcomeOf(cmd: WriteCommand, targetId: string): WriteOutcome {
  return {
    commandId: cmd.commandId,
    linkId: cmd.linkId,
    flowId: cmd.flowId,
    platform: cmd.platform,
    workspace: cmd.workspace,
    entityType: cmd.entityType,
    action: cmd.action,
    status: 'applied',
    targetId,
    targetKey: targetId,
    written: cmd.fields,
    platformVersion: null,
    platformTsMs: 5000,
    error: null,
    coalesced: [],
    tsMs: 5000,
  };
}

let db: { url: string; drop(): Promise<void> };
let pool: Pool;
let store: ReconcilerStore;
const config = testConfig();
const deps: ProcessDeps = {
  flows: [flow],
  topics: config.kafka.topics,
  ids: deterministicId,
  now: () => 1_700_000_000_000,
};

before(async () => {
  db = await freshDatabase();
  await migrate(db.url);
  pool = createPool(db.url);
  store = createReconcilerStore(pool);
});
after(async () => {
  await pool?.end();
  await db?.drop();
});

const linkCount = async () =>
  Number((await pool.query('select count(*) as n from reconciler_links')).rows[0].n);

describe('entity bindings (real Postgres)', () => {
  let createA: WriteCommand;
  it('a poll of our create, before its outcome, is bound to the link its marker names: one link', async () => {
    const born = await store.transaction((tx) => processChange(tx, deps, event('linear', 'L-1', 1000, 'c')));
    createA = born.commands[0]!;
    const polled = await store.transaction((tx) =>
      processChange(tx, deps, event('jira', 'J-1', 2000, 'r', createA.linkId)),
    );
    assert.deepEqual(polled.commands, [], 'the poll of our own create was mirrored');
    assert.equal(await linkCount(), 1);
    const bound = await store.transaction((tx) => tx.linkForEntity('eng', 'jira', 'J-1'));
    assert.equal(bound?.linkId, createA.linkId);
    const out = await store.transaction((tx) => processOutcome(tx, deps, outcomeOf(createA, 'J-1')));
    assert.deepEqual(out.commands, []);
    assert.equal((await store.transaction((tx) => tx.link(createA.linkId)))?.status, 'active');
  });

  it('a create outcome naming an entity bound to another link is a conflict error, and records nothing', async () => {
    const born = await store.transaction((tx) => processChange(tx, deps, event('linear', 'L-2', 3000, 'c')));
    const createB = born.commands[0]!;
    await assert.rejects(
      store.transaction((tx) => processOutcome(tx, deps, outcomeOf(createB, 'J-1'))),
      (err: unknown) =>
        err instanceof LockstepError &&
        err.category === 'conflict' &&
        /already bound to link/.test(err.message),
    );
    const b = await store.transaction((tx) => tx.link(createB.linkId));
    assert.equal(b?.sides.find((s) => s.platform === 'jira')?.entityId, null);
    assert.equal(b?.status, 'pending');
  });
});
