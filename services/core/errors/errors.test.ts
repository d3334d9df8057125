import assert from 'node:assert/strict';
import { test } from 'node:test';
import { categoryOf, isRetriable, LockstepError, wrapError } from './index.ts';

test('messages read "verb-ing object: cause" and keep the cause', () => {
  const cause = new Error('ECONNREFUSED 127.0.0.1:9092');
  const e = new LockstepError('producing to lockstep.changes.v1', { category: 'network', cause });
  assert.equal(e.message, 'producing to lockstep.changes.v1: ECONNREFUSED 127.0.0.1:9092');
  assert.equal(e.cause, cause);
  assert.equal(e.category, 'network');
  assert.equal(e.retriable, true);
});

test('retriable defaults follow the category and can be overridden', () => {
  assert.equal(new LockstepError('x', { category: 'rate_limit', retryAfterMs: 1000 }).retriable, true);
  assert.equal(new LockstepError('x', { category: 'rate_limit', retryAfterMs: 1000 }).retryAfterMs, 1000);
  assert.equal(new LockstepError('x', { category: 'validation' }).retriable, false);
  assert.equal(new LockstepError('x', { category: 'conflict', retriable: true }).retriable, true);
  assert.equal(new LockstepError('x').category, 'unknown');
});

test('isRetriable is never true for programmer errors or foreign throws', () => {
  assert.equal(isRetriable(new TypeError('x is not a function')), false);
  assert.equal(isRetriable(new RangeError('bad')), false);
  assert.equal(isRetriable(new Error('plain')), false);
  assert.equal(isRetriable('string'), false);
  assert.equal(isRetriable(new LockstepError('x', { category: 'network' })), true);
});

test('wrapError keeps category and retriability of a LockstepError, else unknown', () => {
  const inner = new LockstepError('calling jira', { category: 'rate_limit', retryAfterMs: 5 });
  const w = wrapError('applying command c1', inner);
  assert.equal(w.message, 'applying command c1: calling jira');
  assert.equal(w.category, 'rate_limit');
  assert.equal(w.retryAfterMs, 5);
  assert.equal(isRetriable(w), true);
  assert.equal(categoryOf(wrapError('x', new TypeError('t'))), 'unknown');
  assert.equal(isRetriable(wrapError('x', new TypeError('t'))), false);
});
