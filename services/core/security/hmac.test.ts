import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { constantTimeEqual, hmacSha256Hex, verifyHmacSha256Hex } from './hmac.ts';

const secret = 'whsec-test';
const body = Buffer.from('{"hello":"world"}');
const good = createHmac('sha256', secret).update(body).digest('hex');

test('hmacSha256Hex matches node:crypto', () => {
  assert.equal(hmacSha256Hex(secret, body), good);
});

test('accepts the right signature, in either hex case', () => {
  assert.equal(verifyHmacSha256Hex(secret, body, good), true);
  assert.equal(verifyHmacSha256Hex(secret, body, good.toUpperCase()), true);
});

test('rejects a wrong secret, a changed body and a flipped digit', () => {
  assert.equal(verifyHmacSha256Hex('other', body, good), false);
  assert.equal(verifyHmacSha256Hex(secret, Buffer.from('{"hello":"World"}'), good), false);
  const flipped = (good[0] === 'a' ? 'b' : 'a') + good.slice(1);
  assert.equal(verifyHmacSha256Hex(secret, body, flipped), false);
});

test('rejects wrong lengths, odd lengths, empty and non-hex without throwing', () => {
  assert.equal(verifyHmacSha256Hex(secret, body, good.slice(0, 62)), false);
  assert.equal(verifyHmacSha256Hex(secret, body, good + '00'), false);
  assert.equal(verifyHmacSha256Hex(secret, body, good.slice(0, 63)), false);
  assert.equal(verifyHmacSha256Hex(secret, body, ''), false);
  // Buffer.from(hex) would stop at 'zz' and keep the valid prefix; the format check refuses it.
  assert.equal(verifyHmacSha256Hex(secret, body, good.slice(0, 62) + 'zz'), false);
});

test('constantTimeEqual checks length before comparing', () => {
  assert.equal(constantTimeEqual(Buffer.from('abc'), Buffer.from('abc')), true);
  assert.equal(constantTimeEqual(Buffer.from('abc'), Buffer.from('abcd')), false);
  assert.equal(constantTimeEqual(Buffer.alloc(0), Buffer.alloc(0)), true);
});
