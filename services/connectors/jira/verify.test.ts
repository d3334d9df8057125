import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { verifyJira } from './verify.ts';

const req = (headers: Record<string, string>, body: string) => ({
  headers,
  rawBody: Buffer.from(body),
  nowMs: 0,
});

test("Atlassian's published vector: It's a Secret to Everybody / Hello World!", () => {
  // PLATFORMS.md quotes it as sha256=a4771c39…263c9; this is the full value, computed and matching.
  const sig = 'sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9';
  const r = verifyJira(
    req({ 'x-hub-signature': sig, 'x-atlassian-webhook-identifier': 'wh-77' }, 'Hello World!'),
    "It's a Secret to Everybody",
  );
  assert.deepEqual(r, { ok: true, deliveryId: 'wh-77' });
});

test('a real HMAC of a payload verifies; the method is parsed case-insensitively', () => {
  const body = JSON.stringify({ webhookEvent: 'jira:issue_updated' });
  const hex = createHmac('sha256', 's3cret').update(body).digest('hex');
  assert.equal(verifyJira(req({ 'x-hub-signature': `sha256=${hex}` }, body), 's3cret').ok, true);
  assert.equal(verifyJira(req({ 'x-hub-signature': `SHA256=${hex}` }, body), 's3cret').ok, true);
  assert.deepEqual(verifyJira(req({ 'x-hub-signature': `sha256=${hex}` }, body), 's3cret'), {
    ok: true,
    deliveryId: null,
  });
});

test('wrong secret, wrong length, other methods, malformed and missing headers are rejected', () => {
  const body = 'Hello World!';
  const hex = createHmac('sha256', 'right').update(body).digest('hex');
  const cases: [Record<string, string>, RegExp][] = [
    [
      { 'x-hub-signature': `sha256=${createHmac('sha256', 'wrong').update(body).digest('hex')}` },
      /does not match/,
    ],
    [{ 'x-hub-signature': `sha256=${hex.slice(0, 62)}` }, /does not match/],
    [{ 'x-hub-signature': `sha256=${hex}00` }, /does not match/],
    [
      { 'x-hub-signature': `sha1=${createHmac('sha1', 'right').update(body).digest('hex')}` },
      /unsupported X-Hub-Signature method sha1/,
    ],
    [{ 'x-hub-signature': hex }, /not method=signature/],
    [{}, /missing X-Hub-Signature/],
  ];
  for (const [headers, reason] of cases) {
    const r = verifyJira(req(headers, body), 'right');
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, reason);
  }
});
