import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryStore } from './memory-store.ts';
import { event, linkedPair } from './fixtures.test-support.ts';

describe('in-memory reconciler store', () => {
  it('keeps what a transaction wrote once it resolves', async () => {
    const store = createMemoryStore();
    const { state } = linkedPair();
    await store.transaction(async (tx) => {
      await tx.markSeen('e1');
      await tx.saveLink(state);
      await tx.recordConflicts([]);
    });
    await store.transaction(async (tx) => {
      assert.equal(await tx.seen('e1'), true);
      assert.equal(await tx.seen('e2'), false);
      assert.deepEqual(await tx.link(state.linkId), state);
      assert.deepEqual(await tx.linkForEntity('eng', 'linear', 'L-1'), state);
      assert.deepEqual(await tx.linkForEntity('eng', 'jira', 'J-1'), state);
      assert.equal(await tx.linkForEntity('other', 'jira', 'J-1'), null);
    });
    assert.equal(store.linkCount, 1);
  });

  it('drops everything a transaction wrote when it throws', async () => {
    const store = createMemoryStore();
    const { state, create } = linkedPair();
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.markSeen('e1');
        await tx.saveLink(state);
        await tx.putAside('k', event('jira', 'J-9', 5, { title: 'x' }));
        await tx.enqueue([{ topic: 't', key: 'k', schema: 'WriteCommand', payload: create }]);
        throw new Error('decision failed');
      }),
      /decision failed/,
    );
    await store.transaction(async (tx) => {
      assert.equal(await tx.seen('e1'), false);
      assert.equal(await tx.link(state.linkId), null);
      assert.deepEqual(await tx.takeAside('k'), []);
    });
    assert.equal(store.outbox.length, 0);
    assert.equal(store.linkCount, 0);
  });

  it('sees its own writes inside the transaction', async () => {
    const store = createMemoryStore();
    const { state } = linkedPair();
    await store.transaction(async (tx) => {
      await tx.saveLink(state);
      await tx.markSeen('e1');
      assert.deepEqual(await tx.linkForEntity('eng', 'linear', 'L-1'), state);
      assert.equal(await tx.seen('e1'), true);
    });
  });

  it('returns copies: changing a loaded state changes nothing stored', async () => {
    const store = createMemoryStore();
    const { state } = linkedPair();
    await store.transaction((tx) => tx.saveLink(state));
    await store.transaction(async (tx) => {
      const s = (await tx.link(state.linkId))!;
      s.status = 'unlinked';
    });
    assert.equal(store.linkState(state.linkId)?.status, 'active');
  });

  it('takes set-aside events once, oldest platform time first, a repeated put being a no-op', async () => {
    const store = createMemoryStore();
    const late = event('jira', 'J-9', 20, { title: 'late' }, { eventId: 'late' });
    const early = event('jira', 'J-9', 10, { title: 'early' }, { eventId: 'early' });
    await store.transaction(async (tx) => {
      await tx.putAside('entity:jira:J-9', late);
      await tx.putAside('entity:jira:J-9', early);
      await tx.putAside('entity:jira:J-9', late);
    });
    const taken = await store.transaction((tx) => tx.takeAside('entity:jira:J-9'));
    assert.deepEqual(
      taken.map((e) => e.eventId),
      ['early', 'late'],
    );
    assert.deepEqual(await store.transaction((tx) => tx.takeAside('entity:jira:J-9')), []);
  });

  it('an aside taken in a failed transaction is still there', async () => {
    const store = createMemoryStore();
    await store.transaction((tx) => tx.putAside('k', event('jira', 'J-9', 10, { title: 'a' })));
    await assert.rejects(
      store.transaction(async (tx) => {
        assert.equal((await tx.takeAside('k')).length, 1);
        throw new Error('boom');
      }),
    );
    assert.equal((await store.transaction((tx) => tx.takeAside('k'))).length, 1);
  });

  it('keeps the first link that names an entity, as the Postgres index does', async () => {
    const store = createMemoryStore();
    const { state } = linkedPair();
    const other = { ...structuredClone(state), linkId: 'other-link' };
    await store.transaction(async (tx) => {
      await tx.saveLink(state);
      await tx.saveLink(other);
    });
    const found = await store.transaction((tx) => tx.linkForEntity('eng', 'linear', 'L-1'));
    assert.equal(found?.linkId, state.linkId);
  });
});
