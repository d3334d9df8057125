/**
 * The poller against the Asana emulator (test/emulators/asana, test infrastructure — not Asana):
 * Events API sync tokens, 412 full reads and has_more paging, through the official SDK.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ChangeEvent } from '../../../schemas/generated/types.ts';
import { demoSeed } from '../../../test/emulators/asana/index.ts';
import { DEMO_TOKENS, PROJECT, USERS, startSeeded } from '../../../test/emulators/asana/helpers.ts';
import { asanaConfigSchema, type AsanaConfig } from './config.ts';
import { createAsanaPoller, POLL_OVERLAP_MS, type AsanaCursor } from './poll.ts';

const TASK = '1100000000001001';
const OTHER_TASK = '1100000000001002';
const COMMENT = '1100000000002001';

const ids = (events: ChangeEvent[]) =>
  events.map((e) => `${e.source.entityType}:${e.source.entityId}`).sort();

describe('asana poller', () => {
  let t: Awaited<ReturnType<typeof startSeeded>>;
  let config: AsanaConfig;

  before(async () => {
    t = await startSeeded();
    config = asanaConfigSchema.parse({
      accessToken: DEMO_TOKENS.bot,
      baseUrl: t.emu.apiUrl,
      projects: [PROJECT],
      pageSize: 1,
    });
  });
  beforeEach(async () => {
    await t.control.reset();
    await t.control.seed(demoSeed());
  });
  after(() => t.emu.close());

  const poller = () => createAsanaPoller({ config, botUserId: USERS['lockstep']! });
  const ledgerSeq = async () => (await t.control.ledger()).entries.at(-1)?.seq ?? 0;
  async function calls(since: number, re: RegExp): Promise<number> {
    const { entries } = await t.control.ledger(since);
    return entries.filter((e) => e.method === 'GET' && re.test(e.path)).length;
  }

  it('from no cursor: reads every task and comment in full and keeps a sync token', async () => {
    const startMs = Date.now();
    const seq = await ledgerSeq();
    const r = await poller().poll(null);
    assert.equal(r.caughtUp, true);
    assert.deepEqual(r.rejected, []);
    assert.deepEqual(ids(r.events), [`comment:${COMMENT}`, `issue:${TASK}`, `issue:${OTHER_TASK}`].sort());
    for (const e of r.events) {
      assert.equal(e.source.via, 'poll');
      assert.equal(e.source.workspace, PROJECT);
    }
    const task = r.events.find((e) => e.source.entityId === TASK)!;
    assert.equal(task.after?.title, 'Write the onboarding guide');
    const comment = r.events.find((e) => e.source.entityId === COMMENT)!;
    assert.equal(comment.source.parentId, OTHER_TASK);
    // In a full read the author is the comment's actor.
    assert.equal(comment.source.actor?.platformUserId, USERS['carol']);

    const cursor = r.cursor as AsanaCursor;
    assert.match(cursor.sync[PROJECT]!, /^[0-9a-f]{32}$/);
    const since = Date.parse(cursor.since);
    assert.ok(since >= startMs - POLL_OVERLAP_MS && since <= Date.now() - POLL_OVERLAP_MS);
    // pageSize 1: the two tasks came on two pages (next_page.offset followed).
    assert.equal(await calls(seq, /^\/api\/1\.0\/tasks$/), 2);
  });

  it('with the token: only the changes since, tasks re-read as they stand', async () => {
    const p = poller();
    const first = await p.poll(null);
    const quiet = await p.poll(first.cursor);
    assert.deepEqual(quiet.events, []);
    assert.equal(quiet.caughtUp, true);

    await t.alice.tasks.updateTask({ data: { name: 'Guide, second draft' } }, TASK, {});
    await t.bob.stories.createStoryForTask({ data: { text: 'On it' } }, OTHER_TASK, {});
    const seq = await ledgerSeq();
    const next = await p.poll(quiet.cursor);
    const comment = next.events.find((e) => e.source.entityType === 'comment');
    assert.ok(comment);
    assert.notEqual(comment.source.entityId, COMMENT);
    assert.equal(comment.after?.body, 'On it');
    assert.equal(comment.source.actor?.platformUserId, USERS['bob']);
    const renamed = next.events.find((e) => e.source.entityId === TASK)!;
    assert.equal(renamed.after?.title, 'Guide, second draft');
    assert.equal(renamed.source.actor?.platformUserId, USERS['alice']);
    // The comment's task comes along (the comment modified it); the seeded comment is not re-read.
    assert.deepEqual(
      ids(next.events),
      [`comment:${comment.source.entityId}`, `issue:${TASK}`, `issue:${OTHER_TASK}`].sort(),
    );
    // No full read: the events named everything.
    assert.equal(await calls(seq, /^\/api\/1\.0\/tasks$/), 0);
    assert.notEqual((next.cursor as AsanaCursor).sync[PROJECT], (quiet.cursor as AsanaCursor).sync[PROJECT]);
  });

  it('an expired token: a full read from `since` that still has the change made meanwhile', async () => {
    const p = poller();
    const first = await p.poll(null);
    await t.asana.expireSyncTokens();
    await t.alice.tasks.updateTask({ data: { name: 'Changed while the token was expired' } }, TASK, {});
    const seq = await ledgerSeq();
    const r = await p.poll(first.cursor);
    assert.equal(r.caughtUp, true);
    const task = r.events.find((e) => e.source.entityId === TASK);
    assert.equal(task?.after?.title, 'Changed while the token was expired');
    assert.ok((await calls(seq, /^\/api\/1\.0\/tasks$/)) >= 1, 'the project is read in full after the 412');
    const token = (r.cursor as AsanaCursor).sync[PROJECT]!;
    assert.notEqual(token, (first.cursor as AsanaCursor).sync[PROJECT]);

    // The fresh token works: nothing new, no full read.
    const seq2 = await ledgerSeq();
    const after412 = await p.poll(r.cursor);
    assert.deepEqual(after412.events, []);
    assert.equal(await calls(seq2, /^\/api\/1\.0\/tasks$/), 0);
  });

  it('more than 100 events: follows has_more within one poll', async () => {
    const p = poller();
    const first = await p.poll(null);
    // Each rename is two events (the task `changed`, and its system story `added`).
    for (let i = 1; i <= 51; i++) await t.alice.tasks.updateTask({ data: { name: `Rename ${i}` } }, TASK, {});
    const seq = await ledgerSeq();
    const r = await p.poll(first.cursor);
    assert.equal(r.caughtUp, true);
    assert.equal(await calls(seq, /^\/api\/1\.0\/events$/), 2);
    // 102 events name one task: fetched once, one event, as it stands now.
    assert.equal(await calls(seq, new RegExp(`^/api/1\\.0/tasks/${TASK}$`)), 1);
    assert.deepEqual(ids(r.events), [`issue:${TASK}`]);
    assert.equal(r.events[0]!.after?.title, 'Rename 51');
  });

  it('a cursor it cannot read is a validation error', async () => {
    await assert.rejects(poller().poll({ since: 'yesterday' }), {
      name: 'LockstepError',
      category: 'validation',
    });
  });

  it('a 5xx while polling is thrown unchanged', async () => {
    await t.control.fault({ kind: 'server_error', status: 500, match: { pathPrefix: '/api/1.0/events' } });
    await assert.rejects(poller().poll(null), (err: { status?: number }) => err.status === 500);
  });
});
