import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import type { ReadResult } from '../connectors/types.ts';
import { decide } from '../reconciler/decide.ts';
import { ctx, event, ISSUE, linkedPair, makeFlow, only, step } from '../reconciler/fixtures.test-support.ts';
import { compareLink, deleteEvent, exitCode, renderText, repairEvent, type VerifyReport } from './verify.ts';

const found = (e: ChangeEvent): ReadResult => ({ found: true, event: e });
const reads = (l: ChangeEvent | ReadResult, j: ChangeEvent | ReadResult) =>
  new Map<string, ReadResult>([
    ['linear', 'found' in l ? l : found(l)],
    ['jira', 'found' in j ? j : found(j)],
  ]);

describe('verify: compare each linked record with the base', () => {
  it('finds nothing when both sides hold the base', () => {
    const { state } = linkedPair();
    const r = compareLink(
      state,
      makeFlow(),
      reads(event('linear', 'L-1', 3000, ISSUE), event('jira', 'J-1', 3000, ISSUE)),
    );
    assert.deepEqual(r, { drift: [], missing: [], waiting: [] });
  });

  it('reports each drifted field with both values and the side that moved', () => {
    const { state } = linkedPair();
    const r = compareLink(
      state,
      makeFlow(),
      reads(
        event('linear', 'L-1', 3000, { ...ISSUE, title: 'Login fails on Safari' }),
        event('jira', 'J-1', 3100, { ...ISSUE, priority: 'urgent' }),
      ),
    );
    assert.deepEqual(
      r.drift.map((d) => [d.field, d.base, d.moved, d.sides.map((s) => [s.platform, s.value])]),
      [
        [
          'title',
          'Login fails',
          ['linear'],
          [
            ['linear', 'Login fails on Safari'],
            ['jira', 'Login fails'],
          ],
        ],
        [
          'priority',
          'high',
          ['jira'],
          [
            ['linear', 'high'],
            ['jira', 'urgent'],
          ],
        ],
      ],
    );
    assert.deepEqual(r.missing, []);
  });

  it('a record that no longer exists is missing, not drift', () => {
    const { state } = linkedPair();
    const r = compareLink(
      state,
      makeFlow(),
      reads(event('linear', 'L-1', 3000, ISSUE), { found: false, detail: 'no issue J-1 (404)' }),
    );
    assert.deepEqual(r.drift, []);
    const m = only(r.missing);
    assert.equal(m.platform, 'jira');
    assert.equal(m.entityId, 'J-1');
    assert.equal(m.detail, 'no issue J-1 (404)');
  });

  it('a difference on a side with a write in flight waits for the write, it is not drift', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    // A person changes the title in Linear: a command to Jira is in flight until its outcome.
    const changed = step(state, event('linear', 'L-1', 3000, { ...ISSUE, title: 'New title' }), flow);
    assert.equal(changed.commands.length, 1);
    const r = compareLink(
      changed.state,
      flow,
      reads(
        event('linear', 'L-1', 3000, { ...ISSUE, title: 'New title' }),
        event('jira', 'J-1', 2000, ISSUE),
      ),
    );
    assert.deepEqual(r.drift, []);
    assert.deepEqual(r.waiting, [
      { linkId: state.linkId, field: 'title', platform: 'jira', reason: 'in_flight' },
    ]);
  });

  it('a value the reconciler already saw on a side and left there is known, not drift', () => {
    const { state } = linkedPair();
    // As when Jira's workflow has no status of the base's category: egress left it, the outcome showed it.
    const known = structuredClone(state);
    known.fields.status!.sides['jira']!.seen = { category: 'backlog', name: 'Backlog' };
    const jiraHolds = (status: { category: 'backlog' | 'done'; name: string }) =>
      compareLink(
        known,
        makeFlow(),
        reads(event('linear', 'L-1', 3000, ISSUE), event('jira', 'J-1', 3000, { ...ISSUE, status })),
      );
    const left = jiraHolds({ category: 'backlog', name: 'Backlog' });
    assert.deepEqual(left.drift, []);
    assert.deepEqual(left.waiting, [
      { linkId: state.linkId, field: 'status', platform: 'jira', reason: 'known' },
    ]);
    // A person moving it on behind Lockstep's back is drift again.
    const moved = jiraHolds({ category: 'done', name: 'Done' });
    assert.deepEqual(only(moved.drift).moved, ['jira']);
  });

  it('the repair event of a drifted side makes the reconciler command the other side', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const read = event('jira', 'J-1', 3100, { ...ISSUE, priority: 'urgent' }, { op: 'r' });
    const ev = repairEvent(read, 'run-1');
    assert.notEqual(ev.eventId, read.eventId);
    assert.equal(ev.source.via, 'backfill');
    assert.equal(ev.source.deliveryId, 'lockstep-verify:run-1');
    assert.equal(
      repairEvent(read, 'run-2').eventId,
      ev.eventId,
      'a second repair of the same read is a duplicate',
    );
    const r = step(state, ev, flow);
    const cmd = only(r.commands);
    assert.equal(cmd.platform, 'linear');
    assert.equal(cmd.fields.priority, 'urgent');
    assert.deepEqual(cmd.fields.known, ['priority']);
  });

  it("a delete event for a missing record settles by the flow's onDelete (unlink by default)", () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const side = state.sides.find((s) => s.platform === 'jira')!;
    const ev = deleteEvent(state, { ...side, entityId: side.entityId! }, null, 'run-1', ctx.nowMs);
    const r = decide(state, ev, flow, ctx);
    assert.equal(r.state?.status, 'unlinked');
    assert.deepEqual(r.commands, []);
  });

  it('exit code: 0 in step, 2 when something was found, 1 when reads failed', () => {
    const base: VerifyReport = {
      flows: ['eng'],
      links: { checked: 1, pending: 0, closed: 0 },
      drift: [],
      missing: [],
      waiting: [],
      unlinked: [],
      errors: [],
      repair: null,
      durationMs: 5,
    };
    assert.equal(exitCode(base), 0);
    assert.match(renderText(base), /everything is in step/);
    const { state } = linkedPair();
    const missing = compareLink(
      state,
      makeFlow(),
      reads(event('linear', 'L-1', 3000, ISSUE), { found: false, detail: 'gone' }),
    ).missing;
    assert.equal(exitCode({ ...base, missing }), 2);
    assert.match(renderText({ ...base, missing }), /no longer exist \(1\)/);
    assert.equal(
      exitCode({ ...base, missing, errors: [{ linkId: null, platform: 'jira', message: 'down' }] }),
      1,
    );
  });
});
