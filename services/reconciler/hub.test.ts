/**
 * Flows with more than two sides (the hub): one link holds the item on every side, a change on any
 * side is one write to each other side, conflicts name every side, `prefer` orders any number of
 * platforms, one-way writes from the first side to all the others. Three sides here; the rules
 * are the same for any number. (The reconciler does not check platforms against the connector
 * registry; lockstep.yaml's validation does.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WriteCommand } from '../../schemas/generated/types.ts';
import { decide, resolveConflict } from './decide.ts';
import type { Flow, FlowInput } from './flow.ts';
import { flowSchema } from './flow.ts';
import type { LinkState } from './state.ts';
import { ISSUE, ctx, event, only, outcomeOf, step } from './fixtures.test-support.ts';

function hubFlow(over: Partial<FlowInput> = {}): Flow {
  return flowSchema.parse({
    id: 'hub',
    sides: [
      { platform: 'linear', workspace: 'ENG' },
      { platform: 'jira', workspace: 'ENG' },
      { platform: 'asana', workspace: '1200' },
    ],
    ...over,
  });
}

const ids: Record<string, string> = { linear: 'L-1', jira: 'J-1', asana: 'A-1' };

/** L-1 created on Linear at t=1000, mirrored to Jira (J-1) and Asana; both creates landed. */
function linkedTrio(flow: Flow): LinkState {
  const created = step(null, event('linear', 'L-1', 1000, ISSUE, { op: 'c' }), flow);
  assert.deepEqual(created.commands.map((c) => [c.platform, c.action]).sort(), [
    ['asana', 'create'],
    ['jira', 'create'],
  ]);
  let state = created.state;
  for (const cmd of created.commands) {
    const r = step(state, outcomeOf(cmd, { targetId: ids[cmd.platform]!, platformTsMs: 2000 }), flow);
    assert.deepEqual(r.commands, []);
    state = r.state;
  }
  assert.equal(state.status, 'active');
  return state;
}

function byPlatform(commands: WriteCommand[]): Record<string, WriteCommand> {
  const out: Record<string, WriteCommand> = {};
  for (const c of commands) {
    assert.equal(out[c.platform], undefined, `two commands to ${c.platform}`);
    out[c.platform] = c;
  }
  return out;
}

describe('flows with three sides', () => {
  it("our create seen by its marker before its outcome (a read between the create's calls) is bound, not taken as a person's edit", () => {
    const flow = hubFlow({
      statusMap: [
        { name: 'Backlog', category: 'backlog' },
        { name: 'Todo', category: 'todo' },
      ],
    });
    const created = step(null, event('linear', 'L-1', 1000, ISSUE, { op: 'c' }), flow);
    const toAsana = created.commands.find((c) => c.platform === 'asana');
    assert.ok(toAsana);
    // The task as its first call left it: in the project's first section, not yet in Todo's.
    const halfMade = event(
      'asana',
      'A-1',
      1500,
      { ...ISSUE, status: { category: 'backlog', name: 'Backlog' } },
      { op: 'c', marker: created.state.linkId, lockstep: true, workspace: '1200' },
    );
    const seen = step(created.state, halfMade, flow);
    assert.deepEqual(seen.commands, [], 'nothing is written back from a half-made create');
    assert.equal(
      seen.state.sides.find((x) => x.platform === 'asana')?.entityId,
      'A-1',
      'bound by its marker',
    );
    // The create's outcome: what the create left (its status moved to Todo).
    const landed = step(seen.state, outcomeOf(toAsana, { targetId: 'A-1', platformTsMs: 1600 }), flow);
    assert.deepEqual(landed.commands, []);
    // The half-made read arriving again (a redelivery) is older than what the outcome said: stale.
    const again = step(landed.state, { ...halfMade, eventId: 'redelivered' }, flow);
    assert.deepEqual(again.commands, []);
  });

  it('the flow schema takes two or more sides, each on its own platform', () => {
    assert.equal(hubFlow().sides.length, 3);
    const one = flowSchema.safeParse({ id: 'x', sides: [{ platform: 'linear', workspace: 'ENG' }] });
    assert.equal(one.success, false);
    assert.match(JSON.stringify(one.error?.issues), /at least two sides/);
    const twice = flowSchema.safeParse({
      id: 'x',
      sides: [
        { platform: 'linear', workspace: 'ENG' },
        { platform: 'jira', workspace: 'ENG' },
        { platform: 'linear', workspace: 'OPS' },
      ],
    });
    assert.equal(twice.success, false);
    assert.deepEqual(twice.error?.issues[0]?.path, ['sides', 2, 'platform']);
    assert.match(twice.error?.issues[0]?.message ?? '', /linear is already side 1/);
  });

  it('one create on any side is one create on each other side, all carrying the link id as marker', () => {
    const flow = hubFlow();
    const r = step(null, event('jira', 'J-7', 1000, { title: 'From Jira' }, { op: 'c' }), flow);
    const cmds = byPlatform(r.commands);
    assert.deepEqual(Object.keys(cmds).sort(), ['asana', 'linear']);
    for (const c of r.commands) {
      assert.equal(c.action, 'create');
      assert.equal(c.marker, r.state.linkId);
      assert.equal(c.fields.title, 'From Jira');
    }
    assert.equal(r.state.status, 'pending');
    // Active only when every side's create has named its record.
    const first = step(r.state, outcomeOf(cmds['linear']!, { targetId: 'L-7' }), flow);
    assert.equal(first.state.status, 'pending');
    const second = step(first.state, outcomeOf(cmds['asana']!, { targetId: 'A-7' }), flow);
    assert.equal(second.state.status, 'active');
  });

  it("a person's change on one side is one write to each other side; the echoes change nothing", () => {
    const flow = hubFlow();
    const state = linkedTrio(flow);
    const r = step(state, event('asana', 'A-1', 3000, { title: 'Login fails on Safari' }), flow);
    const cmds = byPlatform(r.commands);
    assert.deepEqual(Object.keys(cmds).sort(), ['jira', 'linear']);
    assert.equal(cmds['jira']!.fields.title, 'Login fails on Safari');
    assert.equal(cmds['linear']!.fields.title, 'Login fails on Safari');
    assert.equal(r.state.fields.title!.base, 'Login fails on Safari');
    assert.equal(r.state.fields.title!.basePlatform, 'asana');

    // The writes land and their webhooks come back from both other sides: no loop.
    let s = r.state;
    for (const c of r.commands) {
      const landed = step(s, outcomeOf(c, { platformTsMs: 4000 }), flow);
      assert.deepEqual(landed.commands, []);
      const echo = step(
        landed.state,
        event(c.platform, ids[c.platform]!, 4000, { title: 'Login fails on Safari' }, { lockstep: true }),
        flow,
      );
      assert.deepEqual(echo.commands, []);
      assert.deepEqual(echo.conflicts, []);
      s = echo.state;
    }
    for (const p of ['linear', 'jira', 'asana']) assert.deepEqual(s.fields.title!.sides[p]!.pending, []);
  });

  it('two sides changing a field while our write is in flight: the conflict names all three sides', () => {
    const flow = hubFlow({ fields: { title: 'manual' } });
    const state = linkedTrio(flow);
    // Jira changes the title; the writes to Linear and Asana are in flight…
    const first = step(state, event('jira', 'J-1', 3000, { title: 'From Jira' }), flow);
    assert.equal(first.commands.length, 2);
    // …when a person on Asana changes it too: concurrent, held for a person (manual).
    const second = step(first.state, event('asana', 'A-1', 3100, { title: 'From Asana' }), flow);
    assert.deepEqual(second.commands, []);
    const conflict = only(second.conflicts);
    assert.equal(conflict.status, 'open');
    assert.deepEqual(
      conflict.sides.map((c) => [c.platform, c.entityId, JSON.parse(c.valueJson) as unknown]),
      [
        ['linear', 'L-1', 'From Jira'], // about to hold the base (our write in flight)
        ['jira', 'J-1', 'From Jira'], // the base's side
        ['asana', 'A-1', 'From Asana'], // the side that moved, last
      ],
    );
    assert.equal(conflict.baseJson, JSON.stringify('Login fails'));

    // A person resolves it: every side that does not hold the chosen value is written once.
    const resolved = resolveConflict(second.state, flow, conflict.conflictId, 'Chosen', ctx);
    assert.ok(resolved.ok);
    assert.deepEqual(resolved.commands.map((c) => c.platform).sort(), ['asana', 'jira', 'linear']);
    for (const c of resolved.commands) assert.equal(c.fields.title, 'Chosen');
  });

  it('prefer orders any number of platforms: the higher-ranked side wins a concurrent change', () => {
    const flow = hubFlow({ fields: { title: { prefer: ['asana', 'jira', 'linear'] } } });
    const state = linkedTrio(flow);
    const first = step(state, event('linear', 'L-1', 3000, { title: 'From Linear' }), flow);
    // Asana (ranked first) moves concurrently: it wins over the base Linear set.
    const asana = step(first.state, event('asana', 'A-1', 3100, { title: 'From Asana' }), flow);
    const won = only(asana.conflicts);
    assert.equal(won.status, 'resolved');
    assert.equal(JSON.parse(won.resolutionJson!), 'From Asana');
    assert.equal(won.sides.length, 3);
    assert.equal(asana.state.fields.title!.base, 'From Asana');
    assert.deepEqual(asana.commands.map((c) => [c.platform, c.fields.title]).sort(), [
      ['jira', 'From Asana'],
      ['linear', 'From Asana'],
    ]);

    // Linear (ranked last) moving against Jira's base loses: Linear is put back.
    const state2 = linkedTrio(flow);
    const fromJira = step(state2, event('jira', 'J-1', 3000, { title: 'From Jira' }), flow);
    const linear = step(fromJira.state, event('linear', 'L-1', 3100, { title: 'From Linear' }), flow);
    const lost = only(linear.conflicts);
    assert.equal(JSON.parse(lost.resolutionJson!), 'From Jira');
    assert.equal(linear.state.fields.title!.base, 'From Jira');
    const back = only(linear.commands);
    assert.equal(back.platform, 'linear');
    assert.equal(back.fields.title, 'From Jira');
  });

  it('last-write-wins between the mover and the base: the later change wins on every side', () => {
    const flow = hubFlow();
    const state = linkedTrio(flow);
    const first = step(state, event('jira', 'J-1', 3000, { title: 'Earlier' }), flow);
    const later = step(first.state, event('asana', 'A-1', 3500, { title: 'Later' }), flow);
    assert.equal(JSON.parse(only(later.conflicts).resolutionJson!), 'Later');
    assert.deepEqual(later.commands.map((c) => [c.platform, c.fields.title]).sort(), [
      ['jira', 'Later'],
      ['linear', 'Later'],
    ]);
  });

  it('one-way writes from the first side to every other side, and from no other side', () => {
    const flow = hubFlow({ direction: 'one-way' });
    const state = linkedTrio(flow);
    const fromFirst = step(state, event('linear', 'L-1', 3000, { priority: 'urgent' }), flow);
    assert.deepEqual(fromFirst.commands.map((c) => c.platform).sort(), ['asana', 'jira']);
    for (const p of ['jira', 'asana']) {
      const r = step(state, event(p, ids[p]!, 3000, { priority: 'low' }), flow);
      assert.deepEqual(r.commands, [], `a change on ${p} must not be written anywhere`);
      assert.ok(r.notes.some((n) => n.code === 'one_way'));
    }
    // A new item on a side other than the first is not mirrored at all.
    const created = decide(null, event('asana', 'A-9', 1000, { title: 'x' }, { op: 'c' }), flow, ctx);
    assert.equal(created.state, null);
    assert.deepEqual(created.commands, []);
  });

  it('two writes in flight to the third side land in order: no drift repair, no conflict, no extra write', () => {
    const flow = hubFlow();
    const state = linkedTrio(flow);
    const first = step(state, event('jira', 'J-1', 3000, { title: 'One' }), flow);
    const toAsana1 = byPlatform(first.commands)['asana']!;
    // Before that write lands, Jira changes again (not a conflict: Jira had nothing in flight).
    const second = step(first.state, event('jira', 'J-1', 3200, { title: 'Two' }), flow);
    assert.deepEqual(second.commands.map((c) => c.platform).sort(), ['asana', 'linear']);
    // The first write lands: Asana shows "One" while the base is "Two", but the newer write is
    // still in flight to Asana, so this is not drift and nothing is sent…
    const late = step(second.state, outcomeOf(toAsana1, { platformTsMs: 3300 }), flow);
    assert.deepEqual(late.commands, []);
    // …and the newer write landing settles it.
    const toAsana2 = byPlatform(second.commands)['asana']!;
    const settled = step(late.state, outcomeOf(toAsana2, { platformTsMs: 3400 }), flow);
    assert.deepEqual(settled.commands, []);
    assert.deepEqual(settled.conflicts, []);
    assert.equal(settled.state.fields.title!.sides['asana']!.seen, 'Two');
  });

  it('drift on the third side: a value of ours landing after the base moved on is written back there only', () => {
    const flow = hubFlow();
    const state = linkedTrio(flow);
    const first = step(state, event('jira', 'J-1', 3000, { title: 'One' }), flow);
    assert.ok(byPlatform(first.commands)['asana']);
    // A person on Asana sets the title to "Two" (seen before our write of "One" lands there): a
    // concurrent change, last-write-wins: "Two" is the base everywhere.
    const person = step(first.state, event('asana', 'A-1', 3200, { title: 'Two' }), flow);
    assert.equal(person.state.fields.title!.base, 'Two');
    // Then our earlier write of "One" lands on Asana after all (the platform took it late):
    // drift — Asana alone is put back to the agreed "Two".
    const late = step(person.state, event('asana', 'A-1', 3300, { title: 'One' }, { lockstep: true }), flow);
    const back = only(late.commands);
    assert.equal(back.platform, 'asana');
    assert.equal(back.fields.title, 'Two');
    assert.ok(late.notes.some((n) => n.code === 'drift'));
  });

  it('onDelete: propagate deletes the record on every other side', () => {
    const flow = hubFlow({ onDelete: 'propagate' });
    const state = linkedTrio(flow);
    const r = step(state, event('jira', 'J-1', 3000, null, { op: 'd' }), flow);
    assert.deepEqual(r.commands.map((c) => [c.platform, c.action, c.targetId]).sort(), [
      ['asana', 'delete', 'A-1'],
      ['linear', 'delete', 'L-1'],
    ]);
    assert.equal(r.state.status, 'deleted');
  });
});
