import assert from 'node:assert/strict';
import { test } from 'node:test';
import { slackSignature, verifySlackRequest } from './receiver.ts';

// The worked example on https://docs.slack.dev/authentication/verifying-requests-from-slack.
const DOC_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const DOC_TIMESTAMP = '1531420618';
const DOC_BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const DOC_EXPECTED = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

test("the test's signing implementation reproduces Slack's documented example", () => {
  assert.equal(slackSignature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY), DOC_EXPECTED);
});

test('verification accepts the documented request inside the replay window and rejects tampering', () => {
  const r = {
    headers: { 'x-slack-request-timestamp': DOC_TIMESTAMP, 'x-slack-signature': DOC_EXPECTED },
    raw: Buffer.from(DOC_BODY),
    json: {},
  };
  assert.equal(verifySlackRequest(DOC_SECRET, r, Number(DOC_TIMESTAMP) + 10), true);
  assert.equal(
    verifySlackRequest(DOC_SECRET, { ...r, raw: Buffer.from(`${DOC_BODY}x`) }, Number(DOC_TIMESTAMP)),
    false,
  );
  assert.equal(verifySlackRequest('another-secret', r, Number(DOC_TIMESTAMP)), false);
  // Older than five minutes: Slack tells apps to reject it as a possible replay.
  assert.equal(verifySlackRequest(DOC_SECRET, r, Number(DOC_TIMESTAMP) + 301), false);
});
