import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyHttpStatus, HTTP_STATUS_CLASSES, statusClasses } from './http-status.ts';

test('the table: client errors are final, the transient set is retried, 5xx is network', () => {
  assert.deepEqual(classifyHttpStatus(400), { category: 'validation', retriable: false });
  assert.deepEqual(classifyHttpStatus(401), { category: 'auth', retriable: false, credentialsRefused: true });
  assert.deepEqual(classifyHttpStatus(404), { category: 'not_found', retriable: false });
  assert.deepEqual(classifyHttpStatus(409), { category: 'conflict', retriable: true });
  assert.deepEqual(classifyHttpStatus(429), { category: 'rate_limit', retriable: true });
  for (const s of [500, 502, 503, 504, 599])
    assert.deepEqual(classifyHttpStatus(s), { category: 'network', retriable: true }, String(s));
  for (const s of [302, 405, 418, undefined])
    assert.deepEqual(classifyHttpStatus(s), { category: 'unknown', retriable: false }, String(s));
  for (const cls of Object.values(HTTP_STATUS_CLASSES))
    assert.equal(
      cls.retriable,
      cls.category !== 'validation' && cls.category !== 'auth' && cls.category !== 'not_found',
    );
});

test('a subset keeps the chosen statuses and leaves the rest unknown; 5xx stays network', () => {
  const table = statusClasses([401, 429]);
  assert.deepEqual(Object.keys(table), ['401', '429']);
  assert.deepEqual(classifyHttpStatus(401, table), {
    category: 'auth',
    retriable: false,
    credentialsRefused: true,
  });
  assert.deepEqual(classifyHttpStatus(400, table), { category: 'unknown', retriable: false });
  assert.deepEqual(classifyHttpStatus(503, table), { category: 'network', retriable: true });
});
