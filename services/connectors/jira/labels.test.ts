import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jiraConnector } from './index.ts';
import { jiraLabel, jiraLabels } from './labels.ts';

test('Jira spells a label with whitespace with underscores; other labels are unchanged', () => {
  assert.equal(jiraLabel('needs review'), 'needs_review');
  assert.equal(jiraLabel('a  b\tc'), 'a_b_c');
  assert.equal(jiraLabel('needs_review'), 'needs_review');
  assert.equal(jiraLabel('bug'), 'bug');
  assert.equal(jiraLabel(jiraLabel('needs review')), 'needs_review', 'idempotent');
});

test('labels that share a Jira spelling are written once', () => {
  assert.deepEqual(jiraLabels(['bug', 'needs review', 'needs_review']), ['bug', 'needs_review']);
});

test('the connector declares the spelling as its canonicalLabel', () => {
  assert.equal(jiraConnector.canonicalLabel?.('needs review'), 'needs_review');
});
