import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFieldValue } from './values.ts';

describe('parseFieldValue (values a person gives to resolve a conflict)', () => {
  it('accepts and normalises valid values', () => {
    assert.deepEqual(parseFieldValue('title', 'New'), { ok: true, value: 'New' });
    assert.deepEqual(parseFieldValue('labels', ['ui', 'bug', 'ui']), { ok: true, value: ['bug', 'ui'] });
    assert.deepEqual(parseFieldValue('assignee', ' Ada@Example.com '), {
      ok: true,
      value: 'ada@example.com',
    });
    assert.deepEqual(parseFieldValue('status', { category: 'done', name: 'Done' }), {
      ok: true,
      value: { category: 'done', name: 'Done' },
    });
    assert.deepEqual(parseFieldValue('dueDate', null), { ok: true, value: null });
  });
  it('rejects values of the wrong shape, saying what was expected', () => {
    assert.deepEqual(parseFieldValue('labels', 'bug'), {
      ok: false,
      error: 'labels must be an array of strings, got "bug"',
    });
    assert.equal(parseFieldValue('priority', 'p1').ok, false);
    assert.equal(parseFieldValue('dueDate', '31/01/2030').ok, false);
    assert.equal(parseFieldValue('assignee', 'ada').ok, false);
    assert.equal(parseFieldValue('status', { category: 'finished', name: 'Done' }).ok, false);
  });
});
