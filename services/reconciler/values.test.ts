import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flowLabels, parseFieldValue } from './values.ts';

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
    // The key of a `people:` entry without an email (core/people).
    assert.deepEqual(parseFieldValue('assignee', 'linear:lin-sam'), { ok: true, value: 'linear:lin-sam' });
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

describe('flowLabels (a platform’s labels read in the link’s spelling)', () => {
  const jira = (l: string) => l.replace(/\s+/g, '_');
  it('reads a label back as the known label it is the spelling of', () => {
    assert.deepEqual(flowLabels(['bug', 'needs_review'], jira, [['bug', 'needs review']]), [
      'bug',
      'needs review',
    ]);
  });
  it('keeps a label the link does not know as it is', () => {
    assert.deepEqual(flowLabels(['needs_review', 'ui'], jira, [['bug']]), ['needs_review', 'ui']);
  });
  it('looks in the known lists in order; the first with a match wins', () => {
    assert.deepEqual(flowLabels(['needs_review'], jira, [['bug'], ['needs review'], ['needs_review']]), [
      'needs review',
    ]);
    assert.deepEqual(flowLabels(['needs_review'], jira, [['needs_review'], ['needs review']]), [
      'needs_review',
    ]);
  });
  it('takes every known label of that spelling: the platform cannot tell them apart', () => {
    assert.deepEqual(flowLabels(['needs_review'], jira, [['needs review', 'needs_review']]), [
      'needs review',
      'needs_review',
    ]);
  });
  it('is the identity for a platform that holds any label', () => {
    assert.deepEqual(
      flowLabels(['b', 'a'], (l) => l, [['needs review']]),
      ['a', 'b'],
    );
  });
});
