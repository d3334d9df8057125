/**
 * The reconciler with `people:` overrides (core/people): a platform's person becomes a person key
 * (override first, then email), and a key becomes the target's person (its override id, else the
 * email egress looks up). Pure decide() steps, no I/O.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Person } from '../../schemas/generated/types.ts';
import { createPeopleDirectory, peopleSchema } from '../core/people/index.ts';
import type { DecideContext } from './decide.ts';
import {
  ctx as baseCtx,
  entity,
  event,
  ISSUE,
  makeFlow,
  only,
  outcomeOf,
  step,
} from './fixtures.test-support.ts';

const PLATFORMS = ['linear', 'jira'];
const people = createPeopleDirectory(
  peopleSchema(PLATFORMS).parse([
    { email: 'dana@example.com', jira: '712020:dana' },
    { name: 'Sam', jira: '712020:sam', linear: 'lin-sam' },
  ]),
  PLATFORMS,
);
const ctx: DecideContext = { ...baseCtx, people };
const flow = makeFlow();

const who = (email: string | null, platformUserId: string, displayName: string): Person => ({
  email,
  platformUserId,
  displayName,
});
// Jira hides Dana's email (profile visibility); Linear shows it.
const danaOnJira = who(null, '712020:dana', 'Dana');
const danaOnLinear = who('dana@example.com', 'lin-dana', 'Dana');
const samOnJira = who(null, '712020:sam', 'Sam');
const samOnLinear = who(null, 'lin-sam', 'Sam');

function createdOn(platform: string, entityId: string, assignee: Person) {
  return step(null, event(platform, entityId, 1000, { ...ISSUE, assignee }, { op: 'c' }), flow, ctx);
}

describe('people overrides in the reconciler', () => {
  it('a Jira person without a visible email is carried to Linear by the override, as their email', () => {
    const r = createdOn('jira', 'J-7', danaOnJira);
    const create = only(r.commands);
    assert.equal(create.platform, 'linear');
    assert.deepEqual(create.fields.assignee, {
      email: 'dana@example.com',
      platformUserId: null,
      displayName: null,
    });
    assert.equal(r.state.fields.assignee!.base, 'dana@example.com');
    assert.equal(
      r.notes.find((n) => n.code === 'person_unmatched'),
      undefined,
    );
    // Linear holds her by email: the outcome (and any later webhook) is the same person.
    const linked = step(
      r.state,
      outcomeOf(create, {
        targetId: 'L-7',
        platformTsMs: 2000,
        written: entity({ ...ISSUE, assignee: danaOnLinear }),
      }),
      flow,
      ctx,
    );
    assert.deepEqual(linked.commands, []);
    const later = step(linked.state, event('jira', 'J-7', 3000, { assignee: danaOnJira }), flow, ctx);
    assert.deepEqual(later.commands, [], 'Jira still showing Dana without an email is no change');
  });

  it('a Linear person is written to Jira by the override account id; Jira’s echo is no change', () => {
    const r = createdOn('linear', 'L-8', danaOnLinear);
    const create = only(r.commands);
    assert.equal(create.platform, 'jira');
    assert.deepEqual(create.fields.assignee, {
      email: 'dana@example.com',
      platformUserId: '712020:dana',
      displayName: null,
    });
    const linked = step(
      r.state,
      outcomeOf(create, {
        targetId: 'J-8',
        platformTsMs: 2000,
        written: entity({ ...ISSUE, assignee: danaOnJira }),
      }),
      flow,
      ctx,
    );
    assert.deepEqual(linked.commands, []);
    assert.equal(
      linked.notes.find((n) => n.code === 'drift' || n.code === 'not_taken'),
      undefined,
    );
    // A person moving the issue to Sam in Linear (no email anywhere) reaches Jira as Sam's account.
    const moved = step(linked.state, event('linear', 'L-8', 3000, { assignee: samOnLinear }), flow, ctx);
    const cmd = only(moved.commands);
    assert.deepEqual(cmd.fields.assignee, { email: null, platformUserId: '712020:sam', displayName: 'Sam' });
    assert.deepEqual(cmd.base?.assignee, {
      email: 'dana@example.com',
      platformUserId: '712020:dana',
      displayName: null,
    });
    assert.equal(moved.state.fields.assignee!.base, 'linear:lin-sam');
  });

  it('a person with neither email nor override is left unassigned, with a note naming the people key', () => {
    const eve = who(null, '712020:eve', 'Eve');
    const r = createdOn('jira', 'J-9', eve);
    assert.equal(only(r.commands).fields.assignee, null);
    const note = r.notes.find((n) => n.code === 'person_unmatched');
    assert.ok(note, 'the unmatched person is noted');
    assert.equal(
      note.message,
      'assignee Eve on jira has no email to match across platforms and no `people` entry for jira id 712020:eve; left unassigned',
    );
  });

  it('without a directory the same Jira person is unmatched (email only, as before)', () => {
    const r = step(null, event('jira', 'J-10', 1000, { ...ISSUE, assignee: samOnJira }, { op: 'c' }), flow);
    assert.equal(only(r.commands).fields.assignee, null);
    assert.ok(r.notes.some((n) => n.code === 'person_unmatched'));
  });
});
