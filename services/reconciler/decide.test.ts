import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChangeEvent, WriteOutcome } from '../../schemas/generated/types.ts';
import type { DecideContext } from './decide.ts';
import { decide, entityAsideKey, FLOW_START_SKEW_MS, linkAsideKey, resolveConflict } from './decide.ts';
import type { LinkState } from './state.ts';
import {
  ISSUE,
  ctx,
  entity,
  event,
  linkedPair,
  makeFlow,
  only,
  outcomeOf,
  person,
  step,
} from './fixtures.test-support.ts';

describe('links are born by a create on the other side', () => {
  it('a new Linear issue commands a create on Jira carrying the link id as marker; the link is pending', () => {
    const flow = makeFlow();
    const ev = event('linear', 'L-1', 1000, ISSUE, { op: 'c' });
    const r = step(null, ev, flow);
    const cmd = only(r.commands);
    assert.equal(cmd.action, 'create');
    assert.equal(cmd.platform, 'jira');
    assert.equal(cmd.workspace, 'ENG');
    assert.equal(cmd.targetId, null);
    assert.equal(cmd.marker, r.state.linkId);
    assert.equal(cmd.causedBy, ev.eventId);
    assert.equal(cmd.base, null);
    assert.deepEqual(cmd.fields.known, [
      'assignee',
      'description',
      'dueDate',
      'labels',
      'priority',
      'status',
      'title',
    ]);
    assert.equal(cmd.fields.title, 'Login fails');
    assert.deepEqual(cmd.fields.assignee, {
      email: 'ada@example.com',
      platformUserId: null,
      displayName: null,
    });
    assert.equal(r.state.status, 'pending');
    assert.equal(r.state.sides[0]!.entityId, 'L-1');
    assert.equal(r.state.sides[1]!.entityId, null);
    assert.equal(r.state.sides[1]!.createCommandId, cmd.commandId);
    assert.equal(r.state.fields.title!.base, 'Login fails');
    assert.equal(r.state.fields.assignee!.base, 'ada@example.com');
    assert.deepEqual(r.conflicts, []);
  });

  it('a new Jira issue commands a create on Linear (the other direction)', () => {
    const r = step(null, event('jira', 'J-9', 1000, { title: 'From Jira' }, { op: 'c' }), makeFlow());
    const cmd = only(r.commands);
    assert.equal(cmd.action, 'create');
    assert.equal(cmd.platform, 'linear');
    assert.equal(cmd.fields.title, 'From Jira');
    assert.equal(r.state.sides.find((s) => s.platform === 'jira')!.entityId, 'J-9');
  });

  it('a poll or backfill read (op r) of an unlinked item also creates', () => {
    const r = step(null, event('linear', 'L-2', 1000, { title: 'old item' }, { op: 'r' }), makeFlow());
    assert.equal(only(r.commands).action, 'create');
  });

  describe('items that existed before the flow began are left to backfill', () => {
    const began = 10 * 60 * 60_000; // the flow began at t = 10 h
    const c = { ...ctx, flowStartedAtMs: began };
    const read = (createdAtMs: number | null, o: Parameters<typeof event>[4] = {}) => {
      const ev = event('linear', 'L-3', began + 60_000, { title: 'an item', createdAtMs }, { op: 'r', ...o });
      return decide(null, ev, makeFlow(), c);
    };

    it('a poll read of an item made before the flow began creates nothing and says why', () => {
      const r = read(began - 60 * 60_000);
      assert.equal(r.commands.length, 0);
      assert.equal(r.state, null);
      assert.equal(only(r.notes).code, 'awaits_backfill');
      assert.match(only(r.notes).message, /lockstep backfill --flow eng/);
      // An unknown creation time cannot prove the item new.
      assert.equal(only(read(null).notes).code, 'awaits_backfill');
    });

    it('an item made after the flow began, or within the clock-skew allowance before, is created', () => {
      assert.equal(only(read(began + 30_000).commands).action, 'create');
      assert.equal(only(read(began - FLOW_START_SKEW_MS + 1000).commands).action, 'create');
    });

    it("backfill's own reads and a webhook's create are not held back; with no recorded start, nothing is", () => {
      const old = began - 60 * 60_000;
      const viaBackfill = event('linear', 'L-4', began, { title: 'old', createdAtMs: old }, { op: 'r' });
      viaBackfill.source.via = 'backfill';
      assert.equal(only(decide(null, viaBackfill, makeFlow(), c).commands).action, 'create');
      // A webhook's create is a new item by definition (its creation time is the platform's).
      const hook = event('linear', 'L-5', began, { title: 'new', createdAtMs: old }, { op: 'c' });
      assert.equal(only(decide(null, hook, makeFlow(), c).commands).action, 'create');
      // Without a start (no reconciler_flows row read), every read is new, as before.
      assert.equal(only(decide(null, viaBackfill, makeFlow(), ctx).commands).action, 'create');
    });
  });

  it('the outcome names the new record and activates the link without further commands', () => {
    const flow = makeFlow();
    const created = step(null, event('linear', 'L-1', 1000, ISSUE, { op: 'c' }), flow);
    const r = step(
      created.state,
      outcomeOf(created.commands[0]!, { targetId: 'J-1', platformTsMs: 2000 }),
      flow,
    );
    assert.equal(r.state.status, 'active');
    assert.equal(r.state.sides[1]!.entityId, 'J-1');
    assert.deepEqual(r.commands, []);
    assert.equal(r.state.fields.title!.sides['jira']!.seen, 'Login fails');
    assert.deepEqual(r.state.fields.title!.sides['jira']!.pending, []);
    assert.ok(r.notes.some((n) => n.code === 'linked'));
  });

  it('an update of an item that was never linked is not mirrored', () => {
    const r = decide(null, event('linear', 'L-7', 1000, { title: 'x' }), makeFlow(), ctx);
    assert.equal(r.state, null);
    assert.deepEqual(r.commands, []);
    assert.equal(only(r.notes).code, 'not_linked');
  });

  it('an item in a workspace outside the flow is ignored', () => {
    const r = decide(
      null,
      event('linear', 'L-7', 1000, { title: 'x' }, { op: 'c', workspace: 'OPS' }),
      makeFlow(),
      ctx,
    );
    assert.equal(r.state, null);
    assert.deepEqual(r.commands, []);
    assert.equal(only(r.notes).code, 'not_in_flow');
  });

  it('the same create event decided twice from scratch yields the same link and command ids', () => {
    const ev = event('linear', 'L-1', 1000, ISSUE, { op: 'c' });
    const a = step(null, ev, makeFlow());
    const b = step(null, ev, makeFlow());
    assert.equal(a.state.linkId, b.state.linkId);
    assert.deepEqual(a.commands, b.commands);
  });
});

describe('our own creates are never mirrored', () => {
  it('a Lockstep-made create with no link yet is set aside under its entity key, not mirrored', () => {
    const ev = event('jira', 'J-1', 2000, ISSUE, { op: 'c', lockstep: true });
    const r = decide(null, ev, makeFlow(), ctx);
    assert.equal(r.state, null);
    assert.deepEqual(r.commands, []);
    assert.deepEqual(r.aside, { key: entityAsideKey('jira', 'J-1'), event: ev });
  });

  it('the set-aside echo, decided again after the outcome linked it, changes nothing', () => {
    const flow = makeFlow();
    const echo = event('jira', 'J-1', 2000, ISSUE, { op: 'c', lockstep: true });
    assert.notEqual(decide(null, echo, flow, ctx).aside, null);
    const { state } = linkedPair(flow);
    const r = step(state, echo, flow);
    assert.deepEqual(r.commands, []);
    assert.deepEqual(r.conflicts, []);
  });

  it('a poll of our create (no actor) carrying its marker, before the outcome, is set aside, not mirrored', () => {
    const ev = event('jira', 'J-1', 2000, ISSUE, { op: 'r', marker: 'link-1' });
    assert.equal(ev.source.actor, null);
    const r = decide(null, ev, makeFlow(), ctx);
    assert.equal(r.state, null);
    assert.deepEqual(r.commands, []);
    assert.deepEqual(r.aside, { key: entityAsideKey('jira', 'J-1'), event: ev });
  });

  it('the link a marker names takes the polled record before the outcome; the outcome then changes nothing', () => {
    const flow = makeFlow();
    const born = step(null, event('linear', 'L-1', 1000, ISSUE, { op: 'c' }), flow);
    const create = only(born.commands);
    const polled = event('jira', 'J-1', 2000, ISSUE, { op: 'r', marker: born.state.linkId });
    // process.ts hands decide() the link the marker names when no link indexes the entity.
    const bound = step(born.state, polled, flow);
    assert.deepEqual(bound.commands, []);
    assert.equal(bound.state.status, 'active');
    assert.equal(bound.state.sides.find((s) => s.platform === 'jira')!.entityId, 'J-1');
    const out = step(bound.state, outcomeOf(create, { targetId: 'J-1', platformTsMs: 2000 }), flow);
    assert.deepEqual(out.commands, []);
    assert.equal(out.state.status, 'active');
    assert.ok(!out.notes.some((n) => n.code === 'duplicate_create'));
  });

  it('a create outcome naming another record than the one its marker bound is reported, not kept', () => {
    const flow = makeFlow();
    const born = step(null, event('linear', 'L-1', 1000, ISSUE, { op: 'c' }), flow);
    const create = only(born.commands);
    const bound = step(
      born.state,
      event('jira', 'J-1', 2000, ISSUE, { op: 'r', marker: born.state.linkId }),
      flow,
    );
    const out = step(bound.state, outcomeOf(create, { targetId: 'J-2', platformTsMs: 2000 }), flow);
    assert.ok(
      out.notes.some((n) => n.code === 'duplicate_create'),
      JSON.stringify(out.notes),
    );
    assert.equal(out.state.sides.find((s) => s.platform === 'jira')!.entityId, 'J-1');
  });

  it('the webhook of our create arriving after the outcome is an echo: no commands', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const r = step(state, event('jira', 'J-1', 2000, ISSUE, { op: 'c', lockstep: true }), flow);
    assert.deepEqual(r.commands, []);
  });
});

describe('a person’s edit of our new record before the create outcome', () => {
  it('is kept under the entity and, decided after the outcome, reaches the other side', () => {
    const flow = makeFlow();
    const born = step(null, event('linear', 'L-1', 1000, ISSUE, { op: 'c' }), flow);
    const create = only(born.commands);
    // Jira made J-1 at 2000; a person retitles it at 2500; its outcome has not been decided yet.
    const edit = event(
      'jira',
      'J-1',
      2500,
      { ...ISSUE, title: 'Edited in Jira', createdAtMs: 2000 },
      { op: 'u' },
    );
    const early = decide(null, edit, flow, ctx);
    assert.equal(early.state, null);
    assert.deepEqual(early.commands, []);
    assert.deepEqual(early.aside, { key: entityAsideKey('jira', 'J-1'), event: edit });

    const out = step(born.state, outcomeOf(create, { targetId: 'J-1', platformTsMs: 2000 }), flow);
    // process.ts decides what waited under entity:jira:J-1 once the outcome names J-1.
    const replay = step(out.state, edit, flow);
    const cmd = only(replay.commands);
    assert.equal(cmd.platform, 'linear');
    assert.equal(cmd.fields.title, 'Edited in Jira');
    assert.equal(replay.state.fields.title!.base, 'Edited in Jira');
  });

  it('an edit of an old record that was never linked is not kept', () => {
    const old = event('jira', 'J-9', 10 * 60 * 60_000, { ...ISSUE, createdAtMs: 1000 }, { op: 'u' });
    const r = decide(null, old, makeFlow(), ctx);
    assert.equal(r.aside, null);
    assert.deepEqual(
      r.notes.map((n) => n.code),
      ['not_linked'],
    );
  });
});

describe('field changes propagate; echoes are dropped', () => {
  const cases: Array<{
    field: string;
    after: Parameters<typeof entity>[0];
    jira: (c: ReturnType<typeof entity>) => unknown;
    expected: unknown;
  }> = [
    {
      field: 'title',
      after: { title: 'Login fails on Safari' },
      jira: (f) => f.title,
      expected: 'Login fails on Safari',
    },
    {
      field: 'description',
      after: { description: 'new body' },
      jira: (f) => f.description,
      expected: 'new body',
    },
    {
      field: 'status',
      after: { status: { category: 'in_progress', name: 'In Progress' } },
      jira: (f) => f.status,
      expected: { category: 'in_progress', name: 'In Progress' },
    },
    { field: 'priority', after: { priority: 'urgent' }, jira: (f) => f.priority, expected: 'urgent' },
    {
      field: 'assignee',
      after: { assignee: person('Grace@Example.com', 'Grace') },
      jira: (f) => f.assignee,
      expected: { email: 'grace@example.com', platformUserId: null, displayName: null },
    },
    { field: 'assignee', after: { assignee: null }, jira: (f) => f.assignee, expected: null },
    {
      field: 'labels',
      after: { labels: ['ui', 'bug', 'ui'] },
      jira: (f) => f.labels,
      expected: ['bug', 'ui'],
    },
    { field: 'dueDate', after: { dueDate: '2030-02-28' }, jira: (f) => f.dueDate, expected: '2030-02-28' },
    { field: 'dueDate', after: { dueDate: null }, jira: (f) => f.dueDate, expected: null },
  ];
  for (const c of cases) {
    it(`${c.field} → ${JSON.stringify(c.expected)} on Linear is written to Jira with the prior value as base`, () => {
      const flow = makeFlow();
      const { state, create } = linkedPair(flow);
      const r = step(state, event('linear', 'L-1', 3000, c.after), flow);
      const cmd = only(r.commands);
      assert.equal(cmd.action, 'update');
      assert.equal(cmd.platform, 'jira');
      assert.equal(cmd.targetId, 'J-1');
      assert.deepEqual(cmd.fields.known, [c.field]);
      assert.deepEqual(c.jira(cmd.fields), c.expected);
      assert.deepEqual(cmd.base?.known, [c.field]);
      assert.deepEqual(c.jira(cmd.base!), c.jira(create.fields));
    });
  }

  it('the echo of our write (event and outcome, either order) is dropped', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const changed = step(state, event('linear', 'L-1', 3000, { title: 'T2' }), flow);
    const cmd = only(changed.commands);
    const echo = step(
      changed.state,
      event('jira', 'J-1', 4000, { ...ISSUE, title: 'T2' }, { lockstep: true }),
      flow,
    );
    assert.deepEqual(echo.commands, []);
    const out = step(echo.state, outcomeOf(cmd, { platformTsMs: 4000 }), flow);
    assert.deepEqual(out.commands, []);
    assert.deepEqual(out.state.fields.title!.sides['jira']!.pending, []);
    assert.equal(out.state.fields.title!.base, 'T2');

    const out2 = step(changed.state, outcomeOf(cmd, { platformTsMs: 4000 }), flow);
    const echo2 = step(
      out2.state,
      event('jira', 'J-1', 4000, { ...ISSUE, title: 'T2' }, { lockstep: true }),
      flow,
    );
    assert.deepEqual([...out2.commands, ...echo2.commands], []);
  });

  it('a change back on the side that already equals the base is a no-op', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const r = step(state, event('jira', 'J-1', 3000, ISSUE), flow);
    assert.deepEqual(r.commands, []);
  });

  it('several fields changed by one event go out as one command (coalesced)', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const r = step(
      state,
      event('jira', 'J-1', 3000, { ...ISSUE, title: 'T2', labels: ['bug', 'p1'], priority: 'low' }),
      flow,
    );
    const cmd = only(r.commands);
    assert.equal(cmd.platform, 'linear');
    assert.deepEqual(cmd.fields.known, ['labels', 'priority', 'title']);
    assert.deepEqual(cmd.fields.labels, ['bug', 'p1']);
    // All three fields wait on the same command.
    for (const f of ['labels', 'priority', 'title'] as const) {
      assert.equal(r.state.fields[f]!.sides['linear']!.pending[0]!.commandId, cmd.commandId);
    }
  });

  it('a field first seen after the link was made is taken as the base and written on', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow, { title: 'only title' });
    const r = step(state, event('linear', 'L-1', 3000, { title: 'only title', dueDate: '2031-01-01' }), flow);
    const cmd = only(r.commands);
    assert.deepEqual(cmd.fields.known, ['dueDate']);
    assert.equal(r.state.fields.dueDate!.base, '2031-01-01');
  });
});

describe('status, priority and people are translated by the flow', () => {
  const flow = makeFlow({
    statusMap: [
      { name: 'Todo', category: 'todo', jira: 'To Do' },
      { name: 'Doing', category: 'in_progress', linear: 'In Progress', jira: 'In Review' },
      { name: 'Done', category: 'done' },
    ],
    priorityMap: [
      { name: 'urgent', jira: 'high' },
      { name: 'high', jira: 'urgent' },
    ],
  });
  const linear = { ...ISSUE, status: { category: 'todo' as const, name: 'Todo' } };

  it('a mapped status is written with the other platform’s name; the base holds the flow name', () => {
    const { state, create } = linkedPair(flow, linear);
    assert.deepEqual(create.fields.status, { category: 'todo', name: 'To Do' });
    const r = step(
      state,
      event('linear', 'L-1', 3000, { status: { category: 'in_progress', name: 'In Progress' } }),
      flow,
    );
    assert.deepEqual(only(r.commands).fields.status, { category: 'in_progress', name: 'In Review' });
    assert.deepEqual(only(r.commands).base?.status, { category: 'todo', name: 'To Do' });
    assert.deepEqual(r.state.fields.status!.base, { category: 'in_progress', name: 'Doing' });
  });

  it('an unmapped status is matched by category, with a note', () => {
    const { state } = linkedPair(flow, linear);
    const r = step(state, event('jira', 'J-1', 3000, { status: { category: 'done', name: 'Closed' } }), flow);
    assert.deepEqual(only(r.commands).fields.status, { category: 'done', name: 'Done' });
    assert.ok(r.notes.some((n) => n.code === 'status_unmapped' && n.field === 'status'));
  });

  it('priority passes through unless mapped', () => {
    const { state, create } = linkedPair(flow, linear);
    assert.equal(create.fields.priority, 'urgent', 'linear high is the flow high, which jira calls urgent');
    const r = step(state, event('jira', 'J-1', 3000, { priority: 'high' }), flow);
    // jira high is the flow's urgent; linear has no entry so urgent passes through.
    assert.equal(only(r.commands).fields.priority, 'urgent');
    assert.equal(r.state.fields.priority!.base, 'urgent');
    const toJira = step(r.state, event('linear', 'L-1', 4000, { priority: 'urgent' }), flow);
    assert.deepEqual(toJira.commands, [], 'urgent on linear is the echo of our write');
  });

  it('a person without an email is left unassigned on the other side, with a note saying why', () => {
    const plain = makeFlow();
    const { state } = linkedPair(plain);
    const r = step(state, event('linear', 'L-1', 3000, { assignee: person(null, 'Linus') }), plain);
    const cmd = only(r.commands);
    assert.equal(cmd.fields.assignee, null);
    const note = r.notes.find((n) => n.code === 'person_unmatched');
    assert.ok(note);
    assert.match(note.message, /Linus on linear has no email/);
  });

  it('a platform that does not take a person (no such email there) is not written again and again', () => {
    const plain = makeFlow();
    const { state } = linkedPair(plain);
    const r = step(
      state,
      event('linear', 'L-1', 3000, { assignee: person('new@example.com', 'New') }),
      plain,
    );
    const cmd = only(r.commands);
    const out = step(
      r.state,
      outcomeOf(cmd, { written: entity({ assignee: null }), platformTsMs: 4000 }),
      plain,
    );
    assert.deepEqual(out.commands, []);
    assert.ok(out.notes.some((n) => n.code === 'not_taken'));
    // Jira's later webhook still showing nobody is not a person's change: Linear keeps its assignee.
    const later = step(out.state, event('jira', 'J-1', 4000, { ...ISSUE, assignee: null }), plain);
    assert.deepEqual(later.commands, []);
  });
});

describe('stale reads, duplicates and replays change nothing', () => {
  it('an event older than what was seen for that side and field is ignored', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const newer = step(state, event('jira', 'J-1', 5000, { title: 'newer' }), flow);
    assert.equal(only(newer.commands).fields.title, 'newer');
    // A poll that read the issue before the webhook's change.
    const stale = step(newer.state, event('jira', 'J-1', 4000, { title: 'older' }), flow);
    assert.deepEqual(stale.commands, []);
    assert.equal(stale.state.fields.title!.base, 'newer');
    assert.ok(stale.notes.some((n) => n.code === 'stale'));
  });

  it('a duplicate eventId is dropped', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const ev = event('linear', 'L-1', 3000, { title: 'T2' });
    const first = step(state, ev, flow);
    assert.equal(first.commands.length, 1);
    const again = step(first.state, ev, flow);
    assert.deepEqual(again.commands, []);
    assert.equal(only(again.notes).code, 'duplicate');
    assert.deepEqual(again.state, first.state);
  });

  it('a duplicate outcome is dropped', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const changed = step(state, event('linear', 'L-1', 3000, { title: 'T2' }), flow);
    const out = outcomeOf(only(changed.commands), { platformTsMs: 4000 });
    const first = step(changed.state, out, flow);
    const again = step(first.state, out, flow);
    assert.equal(only(again.notes).code, 'duplicate');
    assert.deepEqual(again.state, first.state);
  });

  it('the same change seen by webhook and by poll (different event ids) is written once', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const hook = step(state, event('linear', 'L-1', 3000, { title: 'T2' }), flow);
    const poll = step(hook.state, event('linear', 'L-1', 3000, { ...ISSUE, title: 'T2' }, { op: 'r' }), flow);
    assert.equal(hook.commands.length, 1);
    assert.deepEqual(poll.commands, []);
  });

  it('replaying a whole sequence over its own result issues no new commands', () => {
    const flow = makeFlow();
    const inputs: Array<ChangeEvent | WriteOutcome> = [];
    let state: LinkState | null = null;
    const run = (input: ChangeEvent | WriteOutcome) => {
      inputs.push(input);
      const r = step(state, input, flow);
      state = r.state;
      return r;
    };
    const c = run(event('linear', 'L-1', 1000, ISSUE, { op: 'c' }));
    run(outcomeOf(c.commands[0]!, { targetId: 'J-1', platformTsMs: 2000 }));
    const u = run(event('linear', 'L-1', 3000, { title: 'T2', labels: ['bug', 'ui'] }));
    run(outcomeOf(u.commands[0]!, { platformTsMs: 4000 }));
    const j = run(event('jira', 'J-1', 5000, { dueDate: null }));
    run(outcomeOf(j.commands[0]!, { platformTsMs: 6000 }));

    let replayed: LinkState = state!;
    for (const input of inputs) {
      const r = step(replayed, input, flow);
      assert.deepEqual(r.commands, [], `replaying ${JSON.stringify(input)}`);
      replayed = r.state;
    }
    assert.deepEqual(replayed.fields, state!.fields);
  });

  it('events too old for the dedupe window are still harmless: their platform time is not newer', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const ev = event('linear', 'L-1', 3000, { title: 'T2' });
    const first = step(state, ev, flow);
    const forgotten: LinkState = { ...first.state, recentEventIds: [] };
    assert.deepEqual(step(forgotten, ev, flow).commands, []);
  });
});

describe('hard case: our write lands after a person’s newer edit (drift)', () => {
  it('Linear sets A, we command Jira to A, a person sets Jira to B, then A lands: Jira is written back to B', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const a = step(state, event('linear', 'L-1', 3000, { title: 'A' }), flow);
    const toJiraA = only(a.commands);
    assert.equal(toJiraA.fields.title, 'A');
    assert.equal(toJiraA.base?.title, 'Login fails');

    // The person's B on Jira (t=3500) happened while our write of A was in flight.
    const b = step(
      a.state,
      event('jira', 'J-1', 3500, { title: 'B' }, { before: { title: 'Login fails' } }),
      flow,
    );
    const conflict = only(b.conflicts);
    assert.equal(conflict.policy, 'last-write-wins');
    assert.equal(conflict.status, 'resolved');
    assert.equal(conflict.resolutionJson, '"B"');
    assert.deepEqual(
      conflict.sides.map((s) => [s.platform, s.valueJson, s.tsMs]),
      [
        ['linear', '"A"', 3000],
        ['jira', '"B"', 3500],
      ],
    );
    const toLinearB = only(b.commands);
    assert.equal(toLinearB.platform, 'linear');
    assert.equal(toLinearB.fields.title, 'B');
    assert.equal(b.state.fields.title!.base, 'B');

    // Our A lands on Jira at t=3600, after B: its echo differs from the base → drift → write B back.
    const landed = step(b.state, event('jira', 'J-1', 3600, { title: 'A' }, { lockstep: true }), flow);
    const repair = only(landed.commands);
    assert.equal(repair.platform, 'jira');
    assert.equal(repair.fields.title, 'B');
    assert.equal(repair.base?.title, 'A', 'the repair is computed from what Jira now shows');
    assert.ok(landed.notes.some((n) => n.code === 'drift'));

    // The outcome of the first write arriving afterwards does not repair a second time.
    const late = step(landed.state, outcomeOf(toJiraA, { platformTsMs: 3600 }), flow);
    assert.deepEqual(late.commands, []);
    // The repair lands; everything is quiet and agrees on B.
    const done = step(late.state, outcomeOf(repair, { platformTsMs: 3700 }), flow);
    const echo = step(done.state, event('jira', 'J-1', 3700, { title: 'B' }, { lockstep: true }), flow);
    const linEcho = step(echo.state, outcomeOf(toLinearB, { platformTsMs: 3800 }), flow);
    assert.deepEqual([...done.commands, ...echo.commands, ...linEcho.commands], []);
    assert.equal(linEcho.state.fields.title!.sides['jira']!.seen, 'B');
    assert.equal(linEcho.state.fields.title!.sides['linear']!.seen, 'B');
    assert.deepEqual(linEcho.state.fields.title!.sides['jira']!.pending, []);
  });

  it('drift found through the outcome (no webhook) is repaired the same way', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const a = step(state, event('linear', 'L-1', 3000, { title: 'A' }), flow);
    const b = step(a.state, event('jira', 'J-1', 3500, { title: 'B' }), flow);
    const landed = step(b.state, outcomeOf(only(a.commands), { platformTsMs: 3600 }), flow);
    assert.equal(only(landed.commands).fields.title, 'B');
    assert.equal(only(landed.commands).platform, 'jira');
  });

  it('a write superseded by a newer write to the same side is not repaired (egress applies them in order)', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const first = step(state, event('linear', 'L-1', 3000, { title: 'A1' }), flow);
    const second = step(first.state, event('linear', 'L-1', 3100, { title: 'A2' }), flow);
    assert.equal(only(second.commands).fields.title, 'A2');
    // Egress gets to A2 after A1 has landed: Jira then holds A1, and that is the base it checks
    // (with 'Login fails' as the base, egress would refuse A2 as stale and Jira would stay on A1).
    assert.equal(only(second.commands).base?.title, 'A1');
    const a1Lands = step(second.state, event('jira', 'J-1', 3200, { title: 'A1' }, { lockstep: true }), flow);
    assert.deepEqual(a1Lands.commands, []);
    const a2Lands = step(
      a1Lands.state,
      event('jira', 'J-1', 3300, { title: 'A2' }, { lockstep: true }),
      flow,
    );
    assert.deepEqual(a2Lands.commands, []);
    assert.deepEqual(a2Lands.state.fields.title!.sides['jira']!.pending, []);
  });

  it('a person’s edit that started from our landed write (before = base) is a plain change, not a conflict', () => {
    const flow = makeFlow({ fields: { default: 'manual' } });
    const { state } = linkedPair(flow);
    const a = step(state, event('linear', 'L-1', 3000, { title: 'A' }), flow);
    // The outcome has not arrived yet, but the platform says the person changed A → C.
    const c = step(a.state, event('jira', 'J-1', 3600, { title: 'C' }, { before: { title: 'A' } }), flow);
    assert.deepEqual(c.conflicts, []);
    assert.equal(only(c.commands).fields.title, 'C');
    assert.equal(only(c.commands).platform, 'linear');
  });
});

/** Linear moves the field (t=3000, our write to Jira in flight), then Jira moves it (jiraTs). */
function concurrent(
  flowOver: Parameters<typeof makeFlow>[0],
  linear: Record<string, unknown>,
  jira: Record<string, unknown>,
  jiraTs = 3500,
) {
  const flow = makeFlow(flowOver);
  const { state } = linkedPair(flow);
  const l = step(state, event('linear', 'L-1', 3000, linear), flow);
  const j = step(l.state, event('jira', 'J-1', jiraTs, jira), flow);
  return { flow, l, j };
}

describe('conflicts are settled by the field’s policy', () => {
  it('last-write-wins: the later platform time wins, the loser is written over', () => {
    const { j } = concurrent({}, { title: 'L' }, { title: 'J' }, 2500);
    const c = only(j.conflicts);
    assert.equal(c.resolutionJson, '"L"');
    assert.equal(c.resolvedBy, 'policy:last-write-wins');
    assert.equal(c.baseJson, '"Login fails"');
    const cmd = only(j.commands);
    assert.equal(cmd.platform, 'jira');
    assert.equal(cmd.fields.title, 'L');
    assert.equal(cmd.base?.title, 'J');
    assert.equal(j.state.fields.title!.base, 'L');
  });

  it('last-write-wins: equal platform times go to the side listed first in the flow', () => {
    const linearFirst = concurrent({}, { title: 'L' }, { title: 'J' }, 3000);
    assert.equal(only(linearFirst.j.conflicts).resolutionJson, '"L"');
    const jiraFirst = concurrent(
      {
        sides: [
          { platform: 'jira', workspace: 'ENG' },
          { platform: 'linear', workspace: 'ENG' },
        ],
      },
      { title: 'L' },
      { title: 'J' },
      3000,
    );
    assert.equal(only(jiraFirst.j.conflicts).resolutionJson, '"J"');
    assert.equal(only(jiraFirst.j.commands).platform, 'linear');
  });

  it('prefer: the platform listed first wins regardless of time', () => {
    const { j } = concurrent(
      { fields: { default: 'last-write-wins', status: { prefer: ['linear', 'jira'] } } },
      {
        status: { category: 'done', name: 'Done' },
      },
      { status: { category: 'canceled', name: 'Canceled' } },
      9000,
    );
    const c = only(j.conflicts);
    assert.equal(c.policy, 'prefer:linear>jira');
    assert.deepEqual(JSON.parse(c.resolutionJson!), { category: 'done', name: 'Done' });
    assert.equal(only(j.commands).platform, 'jira');
  });

  it('merge on labels: a three-way set merge keeps both sides’ additions and removals', () => {
    // base [bug]; Linear adds ui; Jira removes bug and adds p1.
    const { j } = concurrent(
      { fields: { default: 'last-write-wins', labels: 'merge' } },
      { labels: ['bug', 'ui'] },
      {
        labels: ['p1'],
      },
    );
    assert.deepEqual(JSON.parse(only(j.conflicts).resolutionJson!), ['p1', 'ui']);
    assert.deepEqual(j.state.fields.labels!.base, ['p1', 'ui']);
    const byPlatform = Object.fromEntries(j.commands.map((c) => [c.platform, c.fields.labels]));
    assert.deepEqual(byPlatform, { linear: ['p1', 'ui'], jira: ['p1', 'ui'] });
  });

  it('merge on text: edits to different lines combine', () => {
    const { j } = concurrent(
      { fields: { default: 'last-write-wins', description: 'merge' } },
      {
        description: 'Steps:\n1. open the app\n2. click\n3. boom',
      },
      { description: 'Steps:\n1. open\n2. click\n3. boom, then crash' },
    );
    assert.equal(only(j.conflicts).status, 'resolved');
    const merged = 'Steps:\n1. open the app\n2. click\n3. boom, then crash';
    assert.equal(j.state.fields.description!.base, merged);
    assert.deepEqual(
      j.commands.map((c) => [c.platform, c.fields.description]),
      [
        ['linear', merged],
        ['jira', merged],
      ],
    );
    assert.equal(j.state.fields.description!.held, null);
  });

  it('merge on text: overlapping edits fall back to manual and hold the field', () => {
    const { j } = concurrent(
      { fields: { default: 'last-write-wins', description: 'merge' } },
      {
        description: 'Steps:\n1. open the app\n2. click\n3. boom',
      },
      { description: 'Steps:\n1. launch\n2. click\n3. boom' },
    );
    const c = only(j.conflicts);
    assert.equal(c.status, 'open');
    assert.equal(c.policy, 'merge');
    assert.deepEqual(j.commands, []);
    assert.equal(j.state.fields.description!.held?.conflictId, c.conflictId);
  });

  it('manual: publishes an open conflict with both values and times, holds the field, and writes nothing', () => {
    const { flow, j } = concurrent({ fields: { default: 'manual' } }, { title: 'L' }, { title: 'J' });
    const c = only(j.conflicts);
    assert.equal(c.status, 'open');
    assert.equal(c.policy, 'manual');
    assert.equal(c.baseJson, '"Login fails"');
    assert.deepEqual(
      c.sides.map((s) => [s.platform, s.entityId, s.valueJson, s.tsMs]),
      [
        ['linear', 'L-1', '"L"', 3000],
        ['jira', 'J-1', '"J"', 3500],
      ],
    );
    assert.deepEqual(j.commands, []);
    assert.deepEqual(j.state.openConflicts, [c]);

    // While held, further edits on either side are recorded but not written on.
    const more = step(j.state, event('linear', 'L-1', 4000, { title: 'L2' }), flow);
    assert.deepEqual(more.commands, []);
    assert.ok(more.notes.some((n) => n.code === 'held'));
    // Other fields still flow.
    const other = step(
      more.state,
      event('linear', 'L-1', 4100, { title: 'L2', dueDate: '2040-01-01' }),
      flow,
    );
    assert.deepEqual(only(other.commands).fields.known, ['dueDate']);
  });

  it('resolveConflict writes the chosen value to every side that does not hold it and closes the conflict', () => {
    const { flow, l, j } = concurrent({ fields: { default: 'manual' } }, { title: 'L' }, { title: 'J' });
    const c = only(j.conflicts);
    // Our write of L to Jira lands while the field is held: recorded, not repaired.
    const landed = step(j.state, outcomeOf(only(l.commands), { platformTsMs: 3600 }), flow);
    assert.deepEqual(landed.commands, []);
    assert.equal(landed.state.fields.title!.sides['jira']!.seen, 'L');
    const r = resolveConflict(landed.state, flow, c.conflictId, 'Chosen', ctx, 'ada@example.com');
    assert.ok(r.ok);
    assert.deepEqual(r.commands.map((cmd) => [cmd.platform, cmd.fields.title]).sort(), [
      ['jira', 'Chosen'],
      ['linear', 'Chosen'],
    ]);
    const resolved = only(r.conflicts);
    assert.equal(resolved.status, 'resolved');
    assert.equal(resolved.resolutionJson, '"Chosen"');
    assert.equal(resolved.resolvedBy, 'ada@example.com');
    assert.deepEqual(r.state.openConflicts, []);
    assert.equal(r.state.fields.title!.held, null);
    assert.equal(r.state.fields.title!.base, 'Chosen');
    // Once the resolution has landed, the field flows again.
    let s = r.state;
    for (const cmd of r.commands) s = step(s, outcomeOf(cmd, { platformTsMs: 8000 }), flow).state;
    const after = step(s, event('linear', 'L-1', 9000, { title: 'Next' }), flow);
    assert.deepEqual(after.conflicts, []);
    assert.equal(only(after.commands).fields.title, 'Next');
  });

  it('resolveConflict taking one side’s value writes only the other side', () => {
    const { flow, j } = concurrent({ fields: { default: 'manual' } }, { title: 'L' }, { title: 'J' });
    const c = only(j.conflicts);
    const r = resolveConflict(j.state, flow, c.conflictId, 'J', ctx);
    assert.ok(r.ok);
    // Jira shows J but our write of L is still in flight to it, so Jira is written too.
    assert.deepEqual(r.commands.map((cmd) => cmd.platform).sort(), ['jira', 'linear']);
  });

  it('resolveConflict refuses an unknown conflict id', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const r = resolveConflict(state, flow, 'nope', 'x', ctx);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error, /resolving conflict nope: not open/);
  });
});

describe('changes while the create is in flight', () => {
  it('are kept in the base and written once the create is confirmed', () => {
    const flow = makeFlow();
    const created = step(null, event('linear', 'L-1', 1000, ISSUE, { op: 'c' }), flow);
    const edited = step(created.state, event('linear', 'L-1', 1500, { title: 'Edited' }), flow);
    assert.deepEqual(edited.commands, []);
    assert.ok(edited.notes.some((n) => n.code === 'awaiting_create'));
    const linked = step(
      edited.state,
      outcomeOf(created.commands[0]!, { targetId: 'J-1', platformTsMs: 2000 }),
      flow,
    );
    const cmd = only(linked.commands);
    assert.equal(cmd.action, 'update');
    assert.equal(cmd.targetId, 'J-1');
    assert.equal(cmd.fields.title, 'Edited');
    assert.equal(cmd.base?.title, 'Login fails');
  });

  it('a failed create is noted and its pending writes cleared; the link stays pending for a retry', () => {
    const flow = makeFlow();
    const created = step(null, event('linear', 'L-1', 1000, ISSUE, { op: 'c' }), flow);
    const failed = step(
      created.state,
      outcomeOf(created.commands[0]!, { status: 'failed', written: null }),
      flow,
    );
    assert.equal(failed.state.status, 'pending');
    assert.deepEqual(failed.commands, []);
    assert.ok(failed.notes.some((n) => n.code === 'write_failed' && /validation: bad field/.test(n.message)));
    assert.deepEqual(failed.state.fields.title!.sides['jira']!.pending, []);
  });
});

describe('comments', () => {
  it('a comment on a linked issue is created on the other side’s issue, with a marker; edits propagate the body', () => {
    const flow = makeFlow();
    const { state: issue } = linkedPair(flow);
    const c = event(
      'linear',
      'C-1',
      5000,
      { body: 'first!' },
      { op: 'c', entityType: 'comment', parentId: 'L-1' },
    );
    const r = step(null, c, flow, { ...ctx, parent: issue });
    const create = only(r.commands);
    assert.equal(create.action, 'create');
    assert.equal(create.entityType, 'comment');
    assert.equal(create.platform, 'jira');
    assert.equal(create.parentId, 'J-1');
    assert.equal(create.marker, r.state.linkId);
    assert.deepEqual(create.fields.known, ['body']);
    assert.equal(create.fields.body, 'first!');
    assert.equal(r.state.kind, 'comment');
    assert.equal(r.state.parentLinkId, issue.linkId);

    const linked = step(r.state, outcomeOf(create, { targetId: 'JC-1', platformTsMs: 5100 }), flow);
    // Once linked, the caller looks the issue link up by parentLinkId.
    const edit = step(
      linked.state,
      event('linear', 'C-1', 6000, { body: 'first! (edited)' }, { entityType: 'comment' }),
      flow,
      { ...ctx, parent: issue },
    );
    const upd = only(edit.commands);
    assert.equal(upd.action, 'update');
    assert.equal(upd.targetId, 'JC-1');
    // Jira addresses a comment only under its issue: the update names the issue on the target side.
    assert.equal(upd.parentId, 'J-1');
    assert.deepEqual(upd.fields.known, ['body']);
    assert.equal(upd.fields.body, 'first! (edited)');
  });

  it('a comment on an issue that is not linked is not mirrored', () => {
    const c = event(
      'linear',
      'C-1',
      5000,
      { body: 'x' },
      { op: 'c', entityType: 'comment', parentId: 'L-404' },
    );
    const r = decide(null, c, makeFlow(), { ...ctx, parent: null });
    assert.equal(r.state, null);
    assert.deepEqual(r.commands, []);
    assert.equal(only(r.notes).code, 'not_linked');
  });

  it('a comment whose issue is still being created is set aside under the issue’s link', () => {
    const flow = makeFlow();
    const created = step(null, event('linear', 'L-1', 1000, ISSUE, { op: 'c' }), flow);
    const c = event(
      'linear',
      'C-1',
      1100,
      { body: 'x' },
      { op: 'c', entityType: 'comment', parentId: 'L-1' },
    );
    const r = decide(null, c, flow, { ...ctx, parent: created.state });
    assert.deepEqual(r.commands, []);
    assert.deepEqual(r.aside, { key: linkAsideKey(created.state.linkId), event: c });
  });

  it('our own comment coming back is not mirrored', () => {
    const flow = makeFlow();
    const { state: issue } = linkedPair(flow);
    const c = event(
      'jira',
      'JC-1',
      5100,
      { body: 'first!' },
      { op: 'c', entityType: 'comment', parentId: 'J-1', lockstep: true },
    );
    const r = decide(null, c, flow, { ...ctx, parent: issue });
    assert.deepEqual(r.commands, []);
    assert.equal(r.aside?.key, entityAsideKey('jira', 'JC-1'));
  });
});

describe('deletes', () => {
  it('a write that finds its target gone (outcome not_found) unlinks with a note, as a delete would', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const edit = step(state, event('linear', 'L-1', 3000, { ...ISSUE, title: 'renamed' }), flow);
    const update = only(edit.commands);
    const gone: WriteOutcome = {
      ...outcomeOf(update, { status: 'failed', written: null }),
      error: { category: 'not_found', message: 'applying update issue to jira: 404', retriable: false },
    };
    const r = step(edit.state, gone, flow);
    assert.deepEqual(r.commands, []);
    assert.equal(r.state.status, 'unlinked');
    assert.deepEqual(
      r.notes.map((n) => n.code),
      ['write_failed', 'unlinked'],
    );
    const later = step(r.state, event('linear', 'L-1', 4000, { ...ISSUE, title: 'again' }), flow);
    assert.deepEqual(later.commands, [], 'nothing more is written to the record that is gone');
  });

  it('by default a delete unlinks and notes it; later changes are not propagated', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const del = step(state, event('jira', 'J-1', 3000, null, { op: 'd' }), flow);
    assert.deepEqual(del.commands, []);
    assert.equal(del.state.status, 'unlinked');
    assert.equal(only(del.notes).code, 'unlinked');
    const later = step(del.state, event('linear', 'L-1', 4000, { title: 'still here' }), flow);
    assert.deepEqual(later.commands, []);
    assert.equal(only(later.notes).code, 'link_closed');
  });

  it('with onDelete: propagate, the linked record is deleted', () => {
    const flow = makeFlow({ onDelete: 'propagate' });
    const { state } = linkedPair(flow);
    const del = step(state, event('jira', 'J-1', 3000, null, { op: 'd' }), flow);
    const cmd = only(del.commands);
    assert.equal(cmd.action, 'delete');
    assert.equal(cmd.platform, 'linear');
    assert.equal(cmd.targetId, 'L-1');
    assert.equal(del.state.status, 'deleted');
  });
});

describe('one-way flows', () => {
  const flow = makeFlow({ direction: 'one-way' });

  it('creates on the second side are not mirrored', () => {
    const r = decide(null, event('jira', 'J-5', 1000, ISSUE, { op: 'c' }), flow, ctx);
    assert.equal(r.state, null);
    assert.deepEqual(r.commands, []);
    assert.equal(only(r.notes).code, 'one_way');
  });

  it('changes on the second side are not written back; changes on the first still flow', () => {
    const { state } = linkedPair(flow);
    const j = step(state, event('jira', 'J-1', 3000, { title: 'jira edit' }), flow);
    assert.deepEqual(j.commands, []);
    assert.ok(j.notes.some((n) => n.code === 'one_way'));
    const l = step(j.state, event('linear', 'L-1', 4000, { title: 'linear edit' }), flow);
    assert.equal(only(l.commands).fields.title, 'linear edit');
    assert.equal(only(l.commands).platform, 'jira');
  });
});

describe('outcomes', () => {
  it('a skipped_stale outcome clears the pending write without repairing', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const a = step(state, event('linear', 'L-1', 3000, { title: 'A' }), flow);
    const skipped = step(
      a.state,
      outcomeOf(only(a.commands), { status: 'skipped_stale', written: null }),
      flow,
    );
    assert.deepEqual(skipped.commands, []);
    assert.deepEqual(skipped.state.fields.title!.sides['jira']!.pending, []);
  });

  it('an outcome covering coalesced commands confirms all of them', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const a = step(state, event('linear', 'L-1', 3000, { title: 'A' }), flow);
    const b = step(a.state, event('linear', 'L-1', 3100, { dueDate: '2035-05-05' }), flow);
    const out = outcomeOf(only(b.commands), {
      written: entity({ title: 'A', dueDate: '2035-05-05' }),
      coalesced: [only(a.commands).commandId],
      platformTsMs: 3200,
    });
    const r = step(b.state, out, flow);
    assert.deepEqual(r.commands, []);
    assert.deepEqual(r.state.fields.title!.sides['jira']!.pending, []);
    assert.deepEqual(r.state.fields.dueDate!.sides['jira']!.pending, []);
    assert.equal(r.state.fields.title!.sides['jira']!.seen, 'A');
  });

  it('an outcome for a link that does not exist is noted', () => {
    const flow = makeFlow();
    const { create } = linkedPair(flow);
    const r = decide(null, outcomeOf(create), flow, ctx);
    assert.equal(r.state, null);
    assert.equal(only(r.notes).code, 'not_linked');
  });
});

describe('labels a platform holds in its own spelling (Jira: no spaces)', () => {
  const jiraSpelling: DecideContext = {
    ...ctx,
    canonicalLabel: (platform, label) => (platform === 'jira' ? label.replace(/\s+/g, '_') : label),
  };
  const labelsOn = (r: { commands: { platform: string; fields: { labels: string[] | null } }[] }) =>
    Object.fromEntries(r.commands.map((c) => [c.platform, c.fields.labels]));

  it('our write landing as needs_review, and its echo, are the base’s "needs review": nothing more is written', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const add = step(
      state,
      event('linear', 'L-1', 3000, { labels: ['bug', 'needs review'] }),
      flow,
      jiraSpelling,
    );
    const cmd = only(add.commands);
    assert.equal(cmd.platform, 'jira');
    assert.deepEqual(cmd.fields.labels, ['bug', 'needs review'], 'the command carries the flow’s label');
    // Jira's webhook of our edit arrives before the outcome.
    const echo = step(
      add.state,
      event(
        'jira',
        'J-1',
        4000,
        { labels: ['bug', 'needs_review'] },
        { lockstep: true, before: { labels: ['bug'] } },
      ),
      flow,
      jiraSpelling,
    );
    assert.deepEqual(echo.commands, []);
    assert.deepEqual(echo.conflicts, []);
    const landed = step(
      echo.state,
      outcomeOf(cmd, { written: entity({ labels: ['bug', 'needs_review'] }), platformTsMs: 4000 }),
      flow,
      jiraSpelling,
    );
    assert.deepEqual(landed.commands, []);
    assert.deepEqual(
      landed.notes.map((n) => n.code),
      [],
      'not a drift, not a value Jira refused',
    );
    const fs = landed.state.fields.labels!;
    assert.deepEqual(fs.base, ['bug', 'needs review']);
    assert.deepEqual(fs.sides.jira!.seen, ['bug', 'needs review']);
    assert.deepEqual(fs.sides.jira!.pending, []);
  });

  it('a person’s edits in Jira sync in the link’s spelling: adding keeps "needs review", removing needs_review removes it', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow, { ...ISSUE, labels: ['bug', 'needs review'] });
    const add = step(
      state,
      event('jira', 'J-1', 3000, { labels: ['bug', 'needs_review', 'ui'] }),
      flow,
      jiraSpelling,
    );
    assert.deepEqual(labelsOn(add), { linear: ['bug', 'needs review', 'ui'] });
    assert.deepEqual(add.state.fields.labels!.base, ['bug', 'needs review', 'ui']);
    const added = step(add.state, outcomeOf(add.commands[0]!, { platformTsMs: 3500 }), flow, jiraSpelling);
    assert.deepEqual(added.commands, []);

    const remove = step(
      added.state,
      event('jira', 'J-1', 4000, { labels: ['bug', 'ui'] }),
      flow,
      jiraSpelling,
    );
    assert.deepEqual(labelsOn(remove), { linear: ['bug', 'ui'] });
  });

  it('a needs_review a person adds in Jira, when the link knows no "needs review", is needs_review', () => {
    const flow = makeFlow();
    const { state } = linkedPair(flow);
    const r = step(
      state,
      event('jira', 'J-1', 3000, { labels: ['bug', 'needs_review'] }),
      flow,
      jiraSpelling,
    );
    assert.deepEqual(labelsOn(r), { linear: ['bug', 'needs_review'] });
  });
});
