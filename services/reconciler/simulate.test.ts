import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WriteOutcome } from '../../schemas/generated/types.ts';
import type { TopicsConfig } from '../core/kafka/index.ts';
import { event, ISSUE, makeFlow, outcomeOf } from './fixtures.test-support.ts';
import { deterministicId } from './ids.ts';
import type { StatusMapEntry } from './flow.ts';
import { decide } from './decide.ts';
import {
  diffWrites,
  fieldWrites,
  outcomesByCommand,
  simulate,
  type FieldWrite,
  type HistoryChange,
} from './simulate.ts';

const TOPICS: TopicsConfig = {
  changes: 'lockstep.changes.v1',
  commandsPrefix: 'lockstep.commands.',
  outcomes: 'lockstep.outcomes.v1',
  conflicts: 'lockstep.conflicts.v1',
  dlq: 'lockstep.dlq.v1',
  audit: 'lockstep.audit.v1',
};

const statusMap = (jiraInProgress: string): StatusMapEntry[] => [
  { name: 'Todo', category: 'todo' },
  { name: 'In Progress', category: 'in_progress', jira: jiraInProgress },
  { name: 'Done', category: 'done' },
];

const deps = (jiraInProgress: string) => ({
  flows: [makeFlow({ statusMap: statusMap(jiraInProgress) })],
  topics: TOPICS,
  ids: deterministicId,
});

let offset = 0;
const rec = (ev: HistoryChange['event'], timestampMs: number): HistoryChange => ({
  partition: 0,
  offset: String(offset++),
  timestampMs,
  event: ev,
});

/** Linear L-1 created, its Jira create (outcome J-1 in the real history), then moved to In Progress. */
function history() {
  const create = rec(event('linear', 'L-1', 1000, ISSUE, { op: 'c', eventId: 'create' }), 1001);
  // What the real pipeline did with it: the create's outcome named J-1.
  const real = decide(null, create.event, deps('In Progress').flows[0]!, {
    nowMs: 1001,
    ids: deterministicId,
  });
  const createCmd = real.commands[0]!;
  const outcomes: WriteOutcome[] = [outcomeOf(createCmd, { targetId: 'J-1', platformTsMs: 2000 })];
  const changes = [
    create,
    // Our create coming back as a Jira webhook (actor Lockstep): left out of the simulation.
    rec(event('jira', 'J-1', 2000, ISSUE, { op: 'c', lockstep: true, eventId: 'echo' }), 2001),
    rec(
      event(
        'linear',
        'L-1',
        3000,
        { status: { category: 'in_progress', name: 'In Progress' } },
        { eventId: 'move' },
      ),
      3001,
    ),
  ];
  return { changes, outcomes, createCmd };
}

describe('simulate a configuration over history', () => {
  it('takes a create’s target id from the real outcome and leaves out Lockstep’s own changes', async () => {
    const { changes, outcomes, createCmd } = history();
    const sim = await simulate(changes, outcomesByCommand(outcomes), deps('In Progress'));
    assert.equal(sim.ownWrites, 1);
    assert.equal(sim.decided, 2);
    assert.equal(sim.simulatedCreates, 0);
    assert.deepEqual(sim.deadLettered, []);
    assert.equal(sim.commands[0]!.command.commandId, createCmd.commandId);
    const update = sim.commands[1]!.command;
    assert.equal(update.action, 'update');
    assert.equal(update.targetId, 'J-1');
    assert.deepEqual(update.fields.status, { category: 'in_progress', name: 'In Progress' });
    assert.equal(sim.commands.length, 2);
  });

  it('gives a create the real history never made a simulated id', async () => {
    const { changes } = history();
    const sim = await simulate(changes, new Map(), deps('In Progress'));
    assert.equal(sim.simulatedCreates, 1);
    const update = sim.commands.find((c) => c.command.action === 'update')!.command;
    assert.match(update.targetId ?? '', /^simulated:/);
  });

  it('a changed status map differs in exactly the status write it changes', async () => {
    const { changes, outcomes } = history();
    const real = outcomesByCommand(outcomes);
    const cur = await simulate(changes, real, deps('In Progress'));
    const next = await simulate(changes, real, deps('In Review'));
    const diff = diffWrites(fieldWrites(cur.commands), fieldWrites(next.commands));
    assert.equal(diff.length, 1, JSON.stringify(diff));
    const d = diff[0]!;
    assert.equal(d.platform, 'jira');
    assert.equal(d.targetId, 'J-1');
    assert.equal(d.field, 'status');
    assert.deepEqual(d.current, { category: 'in_progress', name: 'In Progress' });
    assert.deepEqual(d.next, { category: 'in_progress', name: 'In Review' });
    assert.equal(d.at.eventId, 'move');
  });

  it('the same configuration twice has no differences', async () => {
    const { changes, outcomes } = history();
    const real = outcomesByCommand(outcomes);
    const a = await simulate(changes, real, deps('In Progress'));
    const b = await simulate(changes, real, deps('In Progress'));
    assert.deepEqual(diffWrites(fieldWrites(a.commands), fieldWrites(b.commands)), []);
  });

  it('an input whose decision fails (an outcome binding a record a second time) is counted as dead-lettered', async () => {
    const { changes, outcomes } = history();
    // A second Linear issue whose create outcome names J-1 again: two links on one Jira record.
    const other = rec(event('linear', 'L-2', 4000, ISSUE, { op: 'c', eventId: 'create-2' }), 4001);
    const flow = deps('In Progress').flows[0]!;
    const cmd2 = decide(null, other.event, flow, { nowMs: 4001, ids: deterministicId }).commands[0]!;
    const real = outcomesByCommand([...outcomes, outcomeOf(cmd2, { targetId: 'J-1' })]);
    const sim = await simulate([...changes, other], real, deps('In Progress'));
    assert.equal(sim.deadLettered.length, 1);
    assert.match(sim.deadLettered[0]!.error, /already bound/);
  });
});

describe('diff of field writes', () => {
  const w = (field: string, value: unknown, eventId = 'e1', linkId = 'l1'): FieldWrite => ({
    flowId: 'eng',
    linkId,
    platform: 'jira',
    entityType: 'issue',
    action: 'update',
    targetId: 'J-1',
    field,
    value,
    at: { partition: 0, offset: '0', timestampMs: 1, eventId, platform: 'linear', entityKey: 'ENG-1' },
  });

  it('equal writes are no difference, whatever the key order of the value', () => {
    assert.deepEqual(
      diffWrites(
        [w('status', { category: 'done', name: 'Done' })],
        [w('status', { name: 'Done', category: 'done' })],
      ),
      [],
    );
  });

  it('pairs a changed value, and names a write only one side sends', () => {
    const d = diffWrites([w('status', 'A'), w('title', 'T')], [w('status', 'B'), w('labels', ['x'])]);
    assert.deepEqual(
      d.map((x) => [x.field, x.current, x.next]),
      [
        ['labels', undefined, ['x']],
        ['status', 'A', 'B'],
        ['title', 'T', undefined],
      ],
    );
    assert.ok(!('next' in d[2]!) && !('current' in d[0]!));
  });

  it('counts repeats: a write sent twice against once is one difference', () => {
    const d = diffWrites([w('title', 'T')], [w('title', 'T'), w('title', 'T', 'e1')]);
    assert.equal(d.length, 1);
    assert.equal(d[0]!.next, 'T');
    assert.ok(!('current' in d[0]!));
  });

  it('writes after different changes are not paired', () => {
    const d = diffWrites([w('title', 'T', 'e1')], [w('title', 'T', 'e2')]);
    assert.equal(d.length, 2);
  });
});
