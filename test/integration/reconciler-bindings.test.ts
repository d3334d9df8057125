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
import {
  createReconcilerStore,
  type ReconcilerStore,
  type StoreTx,
} from '../../services/reconciler/store.ts';
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

describe('an edit of our new record while its create outcome is recorded (real Postgres)', () => {
  it('is not left aside for ever: the edit and the outcome that links the record see each other', async () => {
    const born = await store.transaction((tx) => processChange(tx, deps, event('linear', 'L-9', 7000, 'c')));
    const create = born.commands.find((c) => c.platform === 'jira' && c.action === 'create');
    assert.ok(create, JSON.stringify(born.commands));
    // A person edits the Jira record our create made, before its outcome is recorded.
    const edit: ChangeEvent = {
      ...event('jira', 'J-9', 9000, 'u'),
      after: entityState({ title: 'Edited in Jira', createdAtMs: 8000 }),
    };

    // The edit's transaction stops right after it found no link for J-9, and goes on only once
    // the outcome's transaction has finished or waits on a lock: the interleaving in which the
    // outcome looked for set-aside edits before the edit's aside row was committed.
    let outcomeDone = false;
    let reached!: () => void;
    const atGate = new Promise<void>((r) => (reached = r));
    const gate = async () => {
      reached();
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (outcomeDone) return;
        const waiting = await pool.query(
          "select count(*) as n from pg_locks where locktype = 'advisory' and not granted",
        );
        if (Number(waiting.rows[0].n) > 0) return;
        if (Date.now() > deadline)
          throw new Error('the outcome neither finished nor waited on a lock within 60 s');
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const paused = (tx: StoreTx): StoreTx => ({
      ...tx,
      async linkForEntity(flowId, platform, entityId) {
        const found = await tx.linkForEntity(flowId, platform, entityId);
        if (platform === 'jira' && entityId === 'J-9' && found === null) await gate();
        return found;
      },
    });
    const decided = store.transaction((tx) => processChange(paused(tx), deps, edit));
    await atGate;
    const outcome = store
      .transaction((tx) => processOutcome(tx, deps, outcomeOf(create, 'J-9')))
      .finally(() => (outcomeDone = true));
    const [e, o] = await Promise.all([decided, outcome]);

    const aside = await pool.query(
      "select event_id from reconciler_aside where aside_key = 'entity:jira:J-9'",
    );
    assert.deepEqual(aside.rows, [], 'the edit is still set aside, and nothing will take it');
    const toLinear = [...e.commands, ...o.commands].filter((c) => c.platform === 'linear');
    assert.equal(toLinear.length, 1, JSON.stringify({ edit: e.notes, outcome: o.notes }));
    assert.equal(toLinear[0]!.fields.title, 'Edited in Jira');
  });
});
