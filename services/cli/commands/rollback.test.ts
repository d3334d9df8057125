import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditRecord } from '../../../schemas/generated/types.ts';
import { planRollback } from './rollback.ts';

let n = 0;
function rec(over: Partial<AuditRecord>): AuditRecord {
  n += 1;
  return {
    auditId: `a-${n}`,
    tsMs: 1000 * n,
    commandId: `c-${n}`,
    coalesced: [],
    linkId: 'link-1',
    flowId: 'eng',
    platform: 'jira',
    workspace: 'ENG',
    entityType: 'issue',
    action: 'update',
    targetId: '10001',
    targetKey: 'ENG-1',
    field: 'title',
    result: 'written',
    beforeJson: null,
    afterJson: null,
    detail: null,
    cause: null,
    traceId: null,
    ...over,
  };
}

test("one step per field: the first write's before, the last write's after, newest last write first", () => {
  const plan = planRollback([
    rec({ field: 'title', beforeJson: '"A"', afterJson: '"B"' }),
    rec({
      field: 'status',
      beforeJson: '{"category":"todo","name":"To Do"}',
      afterJson: '{"category":"done","name":"Done"}',
    }),
    rec({ field: 'title', beforeJson: '"B"', afterJson: '"C"' }),
    rec({ field: 'priority', result: 'already_held', beforeJson: '"high"', afterJson: '"high"' }),
    rec({ field: 'priority', result: 'stale_base', beforeJson: '"low"', afterJson: '"high"' }),
  ]);
  assert.deepEqual(
    plan.steps.map((s) => [s.field, s.beforeJson, s.afterJson, s.writes]),
    [
      ['title', '"A"', '"C"', 2],
      ['status', '{"category":"todo","name":"To Do"}', '{"category":"done","name":"Done"}', 1],
    ],
  );
  assert.equal(plan.steps[0]!.ref, 'a-3', 'named by the last write it undoes');
  assert.deepEqual(plan.skipped, [], 'fields Lockstep did not write have nothing to undo');
});

test('creates and deletes are reported, not undone; a write with no recorded before-value too', () => {
  const plan = planRollback([
    rec({ action: 'create', field: 'title', afterJson: '"New"' }),
    rec({ action: 'delete', field: '*', result: 'deleted' }),
    rec({ field: 'title', beforeJson: null, afterJson: '"X"', targetKey: 'ENG-2', targetId: '10002' }),
  ]);
  assert.deepEqual(plan.steps, []);
  assert.deepEqual(
    plan.skipped.map((s) => [s.action, s.target, s.why.split(':')[0]]),
    [
      ['create', 'jira:ENG-1', 'created by Lockstep'],
      ['delete', 'jira:ENG-1', 'a delete cannot be undone through the platform APIs'],
      ['update', 'jira:ENG-2', 'the value before the write was not recorded'],
    ],
  );
});

test('the same field of two items or two sides is two steps', () => {
  const plan = planRollback([
    rec({ beforeJson: '"A"', afterJson: '"B"' }),
    rec({ beforeJson: '"A2"', afterJson: '"B2"', targetId: '10002', targetKey: 'ENG-2', linkId: 'link-2' }),
    rec({ beforeJson: '"a"', afterJson: '"b"', platform: 'linear', targetId: 'lin-1', targetKey: 'ENG-9' }),
  ]);
  assert.equal(plan.steps.length, 3);
});
