import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import type { WebhookRequest } from '../types.ts';
import { handshakeSlack, verifySlack } from './verify.ts';

// The worked example on https://docs.slack.dev/authentication/verifying-requests-from-slack
// (the same values as test/emulators/slack/signature.test.ts).
const DOC_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const DOC_TIMESTAMP = '1531420618';
const DOC_BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const DOC_EXPECTED = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';
const DOC_NOW_MS = Number(DOC_TIMESTAMP) * 1000;

// A signature made independently of the code under test.
const sign = (secret: string, ts: string, body: string | Buffer) =>
  `v0=${createHmac('sha256', secret).update(`v0:${ts}:`).update(body).digest('hex')}`;

function req(headers: WebhookRequest['headers'], body: string | Buffer, nowMs: number): WebhookRequest {
  return { headers, rawBody: Buffer.from(body), nowMs };
}
function signed(secret: string, ts: string, body: string, nowMs: number): WebhookRequest {
  return req({ 'x-slack-request-timestamp': ts, 'x-slack-signature': sign(secret, ts, body) }, body, nowMs);
}
const docRequest = (nowMs = DOC_NOW_MS, body = DOC_BODY) =>
  req({ 'x-slack-request-timestamp': DOC_TIMESTAMP, 'x-slack-signature': DOC_EXPECTED }, body, nowMs);

test("Slack's documented example verifies (a form body: no event_id, so no delivery id)", () => {
  assert.equal(sign(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY), DOC_EXPECTED);
  assert.deepEqual(verifySlack(docRequest(), DOC_SECRET), { ok: true, deliveryId: null });
});

test('the replay window is 300 s either way, and the reason says how far off the timestamp is', () => {
  assert.equal(verifySlack(docRequest(DOC_NOW_MS + 299_000), DOC_SECRET).ok, true);
  assert.equal(verifySlack(docRequest(DOC_NOW_MS + 300_999), DOC_SECRET).ok, true);
  assert.deepEqual(verifySlack(docRequest(DOC_NOW_MS + 301_000), DOC_SECRET), {
    ok: false,
    reason: 'X-Slack-Request-Timestamp is 301 s old (more than 300 s): possible replay',
  });
  assert.equal(verifySlack(docRequest(DOC_NOW_MS - 299_000), DOC_SECRET).ok, true);
  assert.deepEqual(verifySlack(docRequest(DOC_NOW_MS - 301_000), DOC_SECRET), {
    ok: false,
    reason: 'X-Slack-Request-Timestamp is 301 s in the future (more than 300 s): clocks disagree',
  });
});

test('a wrong secret and a tampered body are refused', () => {
  const mismatch = { ok: false, reason: 'X-Slack-Signature does not match the body' };
  assert.deepEqual(verifySlack(docRequest(), 'another-secret'), mismatch);
  assert.deepEqual(verifySlack(docRequest(DOC_NOW_MS, `${DOC_BODY}x`), DOC_SECRET), mismatch);
  assert.deepEqual(
    verifySlack(docRequest(DOC_NOW_MS, DOC_BODY.replace('foobar', 'foobaz')), DOC_SECRET),
    mismatch,
  );
  // The timestamp is signed too: the same signature under another timestamp fails.
  const moved = req(
    { 'x-slack-request-timestamp': '1531420619', 'x-slack-signature': DOC_EXPECTED },
    DOC_BODY,
    DOC_NOW_MS,
  );
  assert.deepEqual(verifySlack(moved, DOC_SECRET), mismatch);
});

test('missing, duplicated and malformed headers are refused with a reason, never thrown', () => {
  const ts = { 'x-slack-request-timestamp': DOC_TIMESTAMP };
  const sig = { 'x-slack-signature': DOC_EXPECTED };
  const cases: [WebhookRequest['headers'], string][] = [
    [ts, 'missing X-Slack-Signature header'],
    [{ ...ts, 'x-slack-signature': '' }, 'missing X-Slack-Signature header'],
    [sig, 'missing X-Slack-Request-Timestamp header'],
    [{ ...ts, 'x-slack-signature': [DOC_EXPECTED, DOC_EXPECTED] }, 'more than one X-Slack-Signature header'],
    [
      { ...sig, 'x-slack-request-timestamp': [DOC_TIMESTAMP, DOC_TIMESTAMP] },
      'more than one X-Slack-Request-Timestamp header',
    ],
    [
      { ...sig, 'x-slack-request-timestamp': 'yesterday' },
      'X-Slack-Request-Timestamp is not seconds since the epoch: yesterday',
    ],
    [
      { ...ts, 'x-slack-signature': DOC_EXPECTED.replace('v0=', 'v1=') },
      'X-Slack-Signature is not a v0= signature',
    ],
    [{ ...ts, 'x-slack-signature': DOC_EXPECTED.slice(3) }, 'X-Slack-Signature is not a v0= signature'],
  ];
  for (const [headers, reason] of cases)
    assert.deepEqual(verifySlack(req(headers, DOC_BODY, DOC_NOW_MS), DOC_SECRET), { ok: false, reason });
  for (const bad of ['v0=', 'v0=zz', `${DOC_EXPECTED.slice(0, 40)}`, `${DOC_EXPECTED}00`])
    assert.equal(
      verifySlack(req({ ...ts, 'x-slack-signature': bad }, DOC_BODY, DOC_NOW_MS), DOC_SECRET).ok,
      false,
      bad,
    );
  // One element in an array is the header sent once.
  assert.equal(
    verifySlack(req({ ...ts, 'x-slack-signature': [DOC_EXPECTED] }, DOC_BODY, DOC_NOW_MS), DOC_SECRET).ok,
    true,
  );
  assert.deepEqual(verifySlack(docRequest(), ''), {
    ok: false,
    reason: 'no Slack signing secret is configured',
  });
});

test("an event_callback's event_id is the delivery id, the same on Slack's retries", () => {
  const secret = 'signing-secret-for-tests';
  const now = 1_700_000_000_000;
  const ts = String(now / 1000);
  const body = JSON.stringify({ type: 'event_callback', event_id: 'Ev0PV52K25', event: { type: 'message' } });
  assert.deepEqual(verifySlack(signed(secret, ts, body, now), secret), {
    ok: true,
    deliveryId: 'Ev0PV52K25',
  });
  const retry = signed(secret, String(now / 1000 + 60), body, now + 60_000);
  assert.deepEqual(
    verifySlack({ ...retry, headers: { ...retry.headers, 'x-slack-retry-num': '1' } }, secret),
    {
      ok: true,
      deliveryId: 'Ev0PV52K25',
    },
  );
  for (const other of [{ type: 'event_callback', event_id: 42 }, { type: 'event_callback' }, [1, 2], 'text'])
    assert.deepEqual(verifySlack(signed(secret, ts, JSON.stringify(other), now), secret), {
      ok: true,
      deliveryId: null,
    });
});

test('url_verification is answered with its challenge only when signed', () => {
  const secret = 'signing-secret-for-tests';
  const now = 1_700_000_000_000;
  const ts = String(now / 1000);
  const body = JSON.stringify({
    token: 'Jhj5dZrVaK7ZwHHjRyZWjbDl',
    challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P',
    type: 'url_verification',
  });
  assert.deepEqual(handshakeSlack(signed(secret, ts, body, now), secret), {
    status: 200,
    headers: { 'content-type': 'text/plain' },
    body: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P',
  });
  // Forged (wrong key), unsigned, stale: no answer here, and verify refuses it.
  const forged = signed('not-the-secret', ts, body, now);
  assert.equal(handshakeSlack(forged, secret), null);
  assert.equal(verifySlack(forged, secret).ok, false);
  assert.equal(handshakeSlack(req({}, body, now), secret), null);
  assert.equal(handshakeSlack(signed(secret, ts, body, now + 301_000), secret), null);
  // Signed, but not a url_verification: an ordinary delivery.
  const event = JSON.stringify({ type: 'event_callback', event_id: 'Ev1', challenge: 'x' });
  assert.equal(handshakeSlack(signed(secret, ts, event, now), secret), null);
  assert.equal(
    handshakeSlack(signed(secret, ts, JSON.stringify({ type: 'url_verification' }), now), secret),
    null,
  );
  assert.equal(handshakeSlack(signed(secret, ts, 'not json', now), secret), null);
});
