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

  it('the command that leaves them unassigned carries who they are and why, for egress to note on the item', () => {
    const hinted = createPeopleDirectory([], PLATFORMS, {
      noEmail: (p) => (p === 'jira' ? 'their email is hidden by their privacy settings' : undefined),
    });
    const eve = who(null, '712020:eve', 'Eve');
    const r = step(null, event('jira', 'J-11', 1000, { ...ISSUE, assignee: eve }, { op: 'c' }), flow, {
      ...ctx,
      people: hinted,
    });
    const create = only(r.commands);
    assert.equal(create.fields.assignee, null);
    assert.deepEqual(create.unresolved, [
      {
        field: 'assignee',
        platform: 'jira',
        person: eve,
        reason:
          'Eve on jira has no email to match across platforms (their email is hidden by their privacy settings) and no `people` entry for jira id 712020:eve',
      },
    ]);
    // A person the override maps carries no such entry.
    assert.deepEqual(only(createdOn('jira', 'J-12', danaOnJira).commands).unresolved, []);
  });

  it('assigning them later reaches Linear as an unassigned write that carries them, whether Linear had someone or no one', () => {
    const eve = who(null, '712020:eve', 'Eve');
    const bob = who('bob@example.com', '712020:bob', 'Bob');
    const linked = (assignee: Person | null, entityId: string) => {
      const r = createdOn('jira', entityId, assignee as Person);
      const create = only(r.commands);
      return step(
        r.state,
        outcomeOf(create, {
          targetId: `L-${entityId}`,
          platformTsMs: 2000,
          written: entity({ ...ISSUE, assignee: assignee && { ...assignee, platformUserId: 'lin-x' } }),
        }),
        flow,
        ctx,
      ).state;
    };

    // Bob → Eve in Jira: Linear is unassigned (the base moves to nobody), saying who and why.
    const fromBob = step(
      linked(bob, 'J-20'),
      event('jira', 'J-20', 3000, { assignee: eve }, { before: { assignee: bob } }),
      flow,
      ctx,
    );
    const unassign = only(fromBob.commands);
    assert.equal(unassign.platform, 'linear');
    assert.equal(unassign.fields.assignee, null);
    assert.deepEqual(
      unassign.unresolved.map((u) => [u.field, u.platform, u.person?.platformUserId]),
      [['assignee', 'jira', '712020:eve']],
    );

    // Nobody → Eve in Jira: nothing changes in flow terms, yet Linear is told to hold "unassigned"
    // (a repeat there) so that the command can carry Eve to the note.
    const fromNobody = step(
      linked(null, 'J-21'),
      event('jira', 'J-21', 3000, { assignee: eve }, { before: { assignee: null } }),
      flow,
      ctx,
    );
    const hold = only(fromNobody.commands);
    assert.equal(hold.platform, 'linear');
    assert.deepEqual(hold.fields.known, ['assignee']);
    assert.equal(hold.fields.assignee, null);
    assert.equal(hold.base?.assignee, null, 'Linear is expected to hold nobody: not stale');
    assert.deepEqual(
      hold.unresolved.map((u) => u.person?.displayName),
      ['Eve'],
    );
    assert.equal(fromNobody.state.fields.assignee!.base, null);

    // Its outcome (Linear still unassigned) settles it; a later read of Jira still showing Eve, with
    // no change of assignee (a poll, a rename), commands nothing more.
    const landed = step(
      fromNobody.state,
      outcomeOf(hold, {
        targetId: 'L-J-21',
        platformTsMs: 4000,
        written: entity({ ...ISSUE, assignee: null }),
      }),
      flow,
      ctx,
    );
    assert.deepEqual(landed.commands, []);
    const reread = step(
      landed.state,
      event('jira', 'J-21', 5000, { assignee: eve, title: 'Renamed' }),
      flow,
      ctx,
    );
    assert.deepEqual(
      reread.commands.map((c) => c.fields.known),
      [['title']],
    );
    assert.deepEqual(only(reread.commands).unresolved, []);
  });

  it('what the note promises: once a `people` entry names them (after a restart), the item’s next change carries them', () => {
    const eve = who(null, '712020:eve', 'Eve');
    const r = step(null, event('jira', 'J-30', 1000, { ...ISSUE, assignee: eve }, { op: 'c' }), flow, ctx);
    const create = only(r.commands);
    assert.equal(create.fields.assignee, null);
    const linked = step(
      r.state,
      outcomeOf(create, {
        targetId: 'L-J-30',
        platformTsMs: 2000,
        written: entity({ ...ISSUE, assignee: null }),
      }),
      flow,
      ctx,
    ).state;
    // The reconciler restarted with Eve's entry; then someone renames the issue in Jira, Eve
    // still assigned there (the assignee itself did not change).
    const withEve = createPeopleDirectory(
      peopleSchema(PLATFORMS).parse([{ email: 'eve@example.com', jira: '712020:eve' }]),
      PLATFORMS,
    );
    const renamed = step(
      linked,
      // A rename: the webhook names only the summary as changed; the issue still shows Eve.
      { ...event('jira', 'J-30', 3000, { assignee: eve, title: 'Renamed' }), changedFields: ['title'] },
      flow,
      {
        ...ctx,
        people: withEve,
      },
    );
    const write = only(renamed.commands);
    assert.equal(write.platform, 'linear');
    assert.deepEqual(write.fields.assignee, {
      email: 'eve@example.com',
      platformUserId: null,
      displayName: null,
    });
    assert.equal(write.fields.title, 'Renamed');
    assert.deepEqual(write.unresolved, []);
  });

  it('without a directory the same Jira person is unmatched (email only, as before)', () => {
    const r = step(null, event('jira', 'J-10', 1000, { ...ISSUE, assignee: samOnJira }, { op: 'c' }), flow);
    assert.equal(only(r.commands).fields.assignee, null);
    assert.ok(r.notes.some((n) => n.code === 'person_unmatched'));
  });
});
