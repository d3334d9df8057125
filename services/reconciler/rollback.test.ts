/**
 * rollbackField: a side put back to what it held before Lockstep's writes (lockstep rollback),
 * only while it still holds what Lockstep left there; the before-value becomes the base, so the
 * rollback's own outcome and echo change nothing more, and the next change syncs as usual.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rollbackField } from './decide.ts';
import { ctx, entity, event, linkedPair, makeFlow, only, outcomeOf, step } from './fixtures.test-support.ts';

const flow = makeFlow();

/** L-1 ↔ J-1, then a person retitles L-1 and Lockstep writes the new title to Jira. */
function retitled() {
  const { state } = linkedPair(flow);
  const edit = step(state, event('linear', 'L-1', 3000, { title: 'Login fails on Safari' }), flow);
  const cmd = only(edit.commands);
  assert.equal(cmd.platform, 'jira');
  const landed = step(edit.state, outcomeOf(cmd, { platformTsMs: 4000 }), flow);
  assert.deepEqual(landed.commands, []);
  return landed.state;
}

const before = entity({ title: 'Login fails' });
const after = entity({ title: 'Login fails on Safari' });

describe('rollbackField', () => {
  it("puts the side back with a command whose base is Lockstep's value; its outcome and echo change nothing more", () => {
    const state = retitled();
    const r = rollbackField(state, flow, 'jira', 'title', before, after, ctx, 'audit-1');
    assert.ok(r.ok, JSON.stringify(r));
    const cmd = only(r.commands);
    assert.equal(cmd.platform, 'jira');
    assert.equal(cmd.targetId, 'J-1');
    assert.equal(cmd.fields.title, 'Login fails');
    assert.deepEqual(cmd.fields.known, ['title']);
    assert.equal(cmd.base?.title, 'Login fails on Safari', 'egress refuses it if Jira moved meanwhile');
    assert.equal(r.state.fields.title?.base, 'Login fails');
    // The outcome lands: no drift repair, no write to Linear (it keeps the person's title).
    const landed = step(r.state, outcomeOf(cmd, { platformTsMs: 5000 }), flow);
    assert.deepEqual(landed.commands, []);
    // Jira's webhook of our own write, and Linear's next unrelated event, write nothing.
    const echo = step(
      landed.state,
      event('jira', 'J-1', 5000, { title: 'Login fails' }, { lockstep: true }),
      flow,
    );
    assert.deepEqual(echo.commands, []);
    const other = step(echo.state, event('linear', 'L-1', 6000, { title: 'Login fails on Safari' }), flow);
    assert.deepEqual(other.commands, []);
    // A person's next title in Linear syncs to Jira again, from the value Jira now holds.
    const next = step(other.state, event('linear', 'L-1', 7000, { title: 'Login broken' }), flow);
    const again = only(next.commands);
    assert.equal(again.fields.title, 'Login broken');
    assert.equal(again.base?.title, 'Login fails');
  });

  it("leaves a field a person changed after Lockstep's write, and says so", () => {
    const state = retitled();
    const edited = step(state, event('jira', 'J-1', 4500, { title: 'Safari login: 500' }), flow);
    const r = rollbackField(edited.state, flow, 'jira', 'title', before, after, ctx, 'audit-1');
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.equal(r.reason, 'changed');
    assert.match(r.error, /Safari login: 500.*a later edit, left as it is/);
  });

  it('a second rollback of the same write finds it already done', () => {
    const state = retitled();
    const r = rollbackField(state, flow, 'jira', 'title', before, after, ctx, 'audit-1');
    assert.ok(r.ok);
    const landed = step(r.state, outcomeOf(only(r.commands), { platformTsMs: 5000 }), flow);
    const twice = rollbackField(landed.state, flow, 'jira', 'title', before, after, ctx, 'audit-1');
    assert.ok(!twice.ok);
    assert.equal(twice.reason, 'already');
  });

  it('a rollback can itself be rolled back', () => {
    const state = retitled();
    const r = rollbackField(state, flow, 'jira', 'title', before, after, ctx, 'audit-1');
    assert.ok(r.ok);
    const landed = step(r.state, outcomeOf(only(r.commands), { platformTsMs: 5000 }), flow);
    const undo = rollbackField(landed.state, flow, 'jira', 'title', after, before, ctx, 'audit-2');
    assert.ok(undo.ok, JSON.stringify(undo));
    assert.equal(only(undo.commands).fields.title, 'Login fails on Safari');
  });

  it('refuses a field held by a conflict and a link that is not active', () => {
    const state = retitled();
    const held = structuredClone(state);
    held.fields.title!.held = { conflictId: 'c-1' };
    const r = rollbackField(held, flow, 'jira', 'title', before, after, ctx, 'a');
    assert.ok(!r.ok);
    assert.equal(r.reason, 'held');
    const closed = { ...structuredClone(state), status: 'unlinked' as const };
    const c = rollbackField(closed, flow, 'jira', 'title', before, after, ctx, 'a');
    assert.ok(!c.ok);
    assert.equal(c.reason, 'not_active');
  });
});
