import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import type { WebhookRequest } from '../types.ts';
import { handshakeAsana, verifyAsana } from './verify.ts';

const secret = 'a1b2c3-handshake-secret';
const body = Buffer.from('{"events":[{"action":"changed","resource":{"gid":"1","resource_type":"task"}}]}');
// An HMAC made independently of the code under test.
const sign = (key: string, raw: Buffer = body) => createHmac('sha256', key).update(raw).digest('hex');

function req(headers: WebhookRequest['headers'], learnedSecrets?: string[], rawBody = body): WebhookRequest {
  return { headers, rawBody, nowMs: 0, ...(learnedSecrets && { learnedSecrets }) };
}

test('a body signed with a configured secret is accepted; Asana sends no delivery id', () => {
  assert.deepEqual(verifyAsana(req({ 'x-hook-signature': sign(secret) }), [secret]), {
    ok: true,
    deliveryId: null,
  });
});

test('a secret learned in a handshake verifies as well as a configured one', () => {
  const learned = 'learned-secret';
  assert.equal(verifyAsana(req({ 'x-hook-signature': sign(learned) }, ['older', learned]), []).ok, true);
  assert.equal(verifyAsana(req({ 'x-hook-signature': sign(learned) }, ['older']), [secret]).ok, false);
});

test('one changed byte of the body fails', () => {
  const changed = Buffer.from(body);
  changed[10] = changed[10]! ^ 1;
  const r = verifyAsana(req({ 'x-hook-signature': sign(secret) }, undefined, changed), [secret]);
  assert.deepEqual(r, { ok: false, reason: 'X-Hook-Signature does not match the body' });
});

test('missing, garbage, truncated, wrong-key and array headers are refused without throwing', () => {
  assert.deepEqual(verifyAsana(req({}), [secret]), { ok: false, reason: 'missing X-Hook-Signature header' });
  for (const sig of ['zz', 'not hex at all', sign(secret).slice(0, 40), sign('other'), `${sign(secret)}00`]) {
    assert.equal(verifyAsana(req({ 'x-hook-signature': sig }), [secret]).ok, false, sig);
  }
  const twice = verifyAsana(req({ 'x-hook-signature': [sign(secret), sign(secret)] }), [secret]);
  assert.deepEqual(twice, { ok: false, reason: 'more than one X-Hook-Signature header' });
  assert.equal(verifyAsana(req({ 'x-hook-signature': [sign(secret)] }), [secret]).ok, true);
});

test('with no secret known at all, nothing verifies', () => {
  const r = verifyAsana(req({ 'x-hook-signature': sign('') }), ['']);
  assert.equal(r.ok, false);
});

test('the handshake echoes X-Hook-Secret with 200 and hands the secret over', () => {
  assert.deepEqual(handshakeAsana(req({ 'x-hook-secret': 'abc123' })), {
    status: 200,
    headers: { 'X-Hook-Secret': 'abc123' },
    body: '',
    learnedSecret: 'abc123',
  });
  assert.equal(handshakeAsana(req({ 'x-hook-signature': sign(secret) })), null);
  assert.equal(handshakeAsana(req({ 'x-hook-secret': '' })), null);
  assert.equal(handshakeAsana(req({ 'x-hook-secret': ['a', 'b'] })), null);
});
