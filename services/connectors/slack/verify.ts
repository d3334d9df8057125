/**
 * Slack Events API requests: `X-Slack-Signature` v0 over the timestamp and the raw body, a replay
 * window on `X-Slack-Request-Timestamp`, and the `url_verification` handshake.
 *
 * Slack signs every request with the app's signing secret (docs.slack.dev/authentication/
 * verifying-requests-from-slack, PLATFORMS.md [S3]): `v0=hex(HMAC-SHA256(secret, "v0:" + ts + ":" +
 * raw body))`, and tells apps to refuse a timestamp more than five minutes from their clock. Slack
 * sends no delivery header; the envelope's `event_id` is its documented dedupe key ("globally
 * unique across all workspaces"), reused on every retry of the event.
 */
import { verifyHmacSha256Hex } from '../../core/security/hmac.ts';
import type { HandshakeResponse, VerifyResult, WebhookRequest } from '../types.ts';

/** Slack's replay window, either way: a timestamp further from our clock is refused. */
export const REPLAY_WINDOW_S = 300;

const SIGNATURE_VERSION = 'v0';
const TIMESTAMP = /^\d+$/;

/** One header's value; an array (the header sent twice) is refused, never silently picked from. */
function single(req: WebhookRequest, name: string): string | undefined | 'many' {
  const v = req.headers[name];
  if (Array.isArray(v)) return v.length === 1 ? v[0] : 'many';
  return v;
}

/** The raw body as JSON, or undefined (slash commands and interactivity are form-encoded). */
function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function eventIdOf(raw: Buffer): string | null {
  const body = parseJson(raw);
  const id =
    typeof body === 'object' && body !== null ? (body as { event_id?: unknown }).event_id : undefined;
  return typeof id === 'string' && id !== '' ? id : null;
}

/** Why `ageS` (our clock minus Slack's timestamp, in seconds) is outside the replay window, or null. */
function windowProblem(ageS: number): string | null {
  if (ageS > REPLAY_WINDOW_S)
    return `X-Slack-Request-Timestamp is ${ageS} s old (more than ${REPLAY_WINDOW_S} s): possible replay`;
  if (-ageS > REPLAY_WINDOW_S)
    return `X-Slack-Request-Timestamp is ${-ageS} s in the future (more than ${REPLAY_WINDOW_S} s): clocks disagree`;
  return null;
}

/**
 * Checks `X-Slack-Signature` against the raw body and the replay window against `req.nowMs`.
 * Never throws. `deliveryId` is the envelope's `event_id` when the body is JSON that has one.
 */
export function verifySlack(req: WebhookRequest, signingSecret: string): VerifyResult {
  const signature = single(req, 'x-slack-signature');
  const timestamp = single(req, 'x-slack-request-timestamp');
  if (signature === undefined || signature === '')
    return { ok: false, reason: 'missing X-Slack-Signature header' };
  if (signature === 'many') return { ok: false, reason: 'more than one X-Slack-Signature header' };
  if (timestamp === undefined || timestamp === '')
    return { ok: false, reason: 'missing X-Slack-Request-Timestamp header' };
  if (timestamp === 'many') return { ok: false, reason: 'more than one X-Slack-Request-Timestamp header' };
  if (!TIMESTAMP.test(timestamp.trim()))
    return {
      ok: false,
      reason: `X-Slack-Request-Timestamp is not seconds since the epoch: ${timestamp.slice(0, 40)}`,
    };
  if (signingSecret === '') return { ok: false, reason: 'no Slack signing secret is configured' };

  const ts = timestamp.trim();
  const problem = windowProblem(Math.floor(req.nowMs / 1000) - Number(ts));
  if (problem) return { ok: false, reason: problem };

  const [version, hex] = splitOnce(signature.trim(), '=');
  if (version !== SIGNATURE_VERSION || hex === undefined)
    return { ok: false, reason: `X-Slack-Signature is not a ${SIGNATURE_VERSION}= signature` };
  // Slack signs the bytes it sent: the prefix is joined to the raw body, never to a re-serialized one.
  const signed = Buffer.concat([Buffer.from(`${SIGNATURE_VERSION}:${ts}:`), req.rawBody]);
  if (!verifyHmacSha256Hex(signingSecret, signed, hex))
    return { ok: false, reason: 'X-Slack-Signature does not match the body' };
  return { ok: true, deliveryId: eventIdOf(req.rawBody) };
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const at = s.indexOf(sep);
  return at < 0 ? [s, undefined] : [s.slice(0, at), s.slice(at + sep.length)];
}

/**
 * Slack's Request URL check: a signed `url_verification {token, challenge, type}`, answered 200
 * with the challenge as plain text. Only a signed one is answered here; a forged one gets null and
 * then fails `verifySlack` (401 in ingest). Slack's signing secret is configured, never learned.
 */
export function handshakeSlack(req: WebhookRequest, signingSecret: string): HandshakeResponse | null {
  const body = parseJson(req.rawBody);
  if (typeof body !== 'object' || body === null) return null;
  const { type, challenge } = body as { type?: unknown; challenge?: unknown };
  if (type !== 'url_verification' || typeof challenge !== 'string') return null;
  if (!verifySlack(req, signingSecret).ok) return null;
  return { status: 200, headers: { 'content-type': 'text/plain' }, body: challenge };
}
