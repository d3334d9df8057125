import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { verifyLinear } from './verify.ts';

const secret = 'lin_wh_test_secret';
const now = 1_777_631_400_000;
function signed(body: object, sig?: string, extra: Record<string, string> = {}) {
  const rawBody = Buffer.from(JSON.stringify(body));
  const signature = sig ?? createHmac('sha256', secret).update(rawBody).digest('hex');
  return {
    headers: { 'linear-signature': signature, 'linear-delivery': 'd-1', ...extra },
    rawBody,
    nowMs: now,
  };
}

test('a correctly signed, fresh delivery is accepted with its Linear-Delivery id', () => {
  assert.deepEqual(verifyLinear(signed({ action: 'create', webhookTimestamp: now - 1_000 }), secret), {
    ok: true,
    deliveryId: 'd-1',
  });
});

test('the signature covers the raw bytes: re-serialized JSON with the same meaning fails', () => {
  const req = signed({ a: 1, webhookTimestamp: now });
  const reformatted = {
    ...req,
    rawBody: Buffer.from(JSON.stringify({ a: 1, webhookTimestamp: now }, null, 2)),
  };
  assert.equal(verifyLinear(reformatted, secret).ok, false);
});

test('wrong secret, wrong length, non-hex and missing signatures are rejected', () => {
  const body = { webhookTimestamp: now };
  const good = signed(body).headers['linear-signature'];
  const wrongKey = createHmac('sha256', 'other').update(JSON.stringify(body)).digest('hex');
  for (const sig of [wrongKey, good.slice(0, 40), good + 'ab', 'z'.repeat(64)]) {
    const r = verifyLinear(signed(body, sig), secret);
    assert.equal(r.ok, false, sig);
  }
  const r = verifyLinear({ headers: {}, rawBody: Buffer.from('{}'), nowMs: now }, secret);
  assert.deepEqual(r, { ok: false, reason: 'missing Linear-Signature header' });
});

test('the 60-second window: 60 s old passes, 61 s old or 61 s ahead fails', () => {
  assert.equal(verifyLinear(signed({ webhookTimestamp: now - 60_000 }), secret).ok, true);
  const late = verifyLinear(signed({ webhookTimestamp: now - 61_000 }), secret);
  assert.equal(late.ok, false);
  assert.match(!late.ok ? late.reason : '', /outside the 60000 ms window/);
  assert.equal(verifyLinear(signed({ webhookTimestamp: now + 61_000 }), secret).ok, false);
});

test('without webhookTimestamp in the body the linear-timestamp header is used, else rejected', () => {
  assert.equal(
    verifyLinear(signed({ a: 1 }, undefined, { 'linear-timestamp': String(now - 5_000) }), secret).ok,
    true,
  );
  const r = verifyLinear(signed({ a: 1 }), secret);
  assert.deepEqual(r, { ok: false, reason: 'no webhookTimestamp in the body' });
});
