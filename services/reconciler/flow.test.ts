import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flowSchema, flows, policyFor } from './flow.ts';

const sides = [
  { platform: 'linear', workspace: 'ENG' },
  { platform: 'jira', workspace: 'ENG' },
];

function issues(input: unknown): string[] {
  const r = flowSchema.safeParse(input);
  assert.equal(r.success, false, 'expected the flow to be rejected');
  return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('flowSchema', () => {
  it('fills defaults: both ways, last-write-wins, unlink on delete, no maps', () => {
    const f = flowSchema.parse({ id: 'eng', sides });
    assert.equal(f.direction, 'both');
    assert.equal(f.fields.default, 'last-write-wins');
    assert.equal(f.onDelete, 'unlink');
    assert.deepEqual(f.statusMap, []);
    assert.equal(f.sides[0].entityType, 'issue');
    assert.equal(policyFor(f, 'title'), 'last-write-wins');
  });

  it('takes per-field policies over the default', () => {
    const f = flowSchema.parse({
      id: 'eng',
      sides,
      fields: { default: 'manual', labels: 'merge', status: { prefer: ['jira'] } },
    });
    assert.equal(policyFor(f, 'labels'), 'merge');
    assert.deepEqual(policyFor(f, 'status'), { prefer: ['jira'] });
    assert.equal(policyFor(f, 'title'), 'manual');
  });

  it('reports every problem with its path at once', () => {
    const found = issues({
      id: 'eng',
      sides,
      fields: { default: 'merge', status: 'merge', title: { prefer: ['asana'] } },
      statusMap: [
        { name: 'Todo', category: 'todo', asana: 'x' },
        { name: 'Todo', category: 'todo' },
      ],
    });
    assert.deepEqual(
      found.sort(),
      [
        'fields.default: merge applies to labels, title, description, body only; set it per field',
        'fields.status: merge applies to labels, title, description, body only; set it per field',
        'fields.title.prefer.0: asana is not a side of this flow (linear, jira)',
        'statusMap.0.asana: asana is not a side of this flow (linear, jira)',
        'statusMap.1.name: duplicate status Todo',
        'statusMap.1.jira: status todo on jira is mapped twice',
        'statusMap.1.linear: status todo on linear is mapped twice',
      ].sort(),
    );
  });

  it('rejects two sides on one platform', () => {
    assert.deepEqual(issues({ id: 'x', sides: [sides[0], { platform: 'linear', workspace: 'OPS' }] }), [
      'sides.1.platform: linear is already side 1 of this flow: each side must be on a different platform',
    ]);
  });

  it('rejects a priority map that is not one-to-one on a platform', () => {
    const found = issues({ id: 'x', sides, priorityMap: [{ name: 'urgent', jira: 'high' }] });
    assert.deepEqual(found, [
      'priorityMap: priorities high and urgent would both be high on jira; map every priority you move',
    ]);
  });

  it('rejects unknown keys (typos) instead of ignoring them', () => {
    assert.equal(issues({ id: 'x', sides, ondelete: 'propagate' }).length, 1);
  });

  it('one-way flows write from the first side to the second only', () => {
    const f = flowSchema.parse({ id: 'eng', sides, direction: 'one-way' });
    assert.equal(flows(f, 'linear', 'jira'), true);
    assert.equal(flows(f, 'jira', 'linear'), false);
    const both = flowSchema.parse({ id: 'eng', sides });
    assert.equal(flows(both, 'jira', 'linear'), true);
  });
});
