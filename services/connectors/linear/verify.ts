import { verifyHmacSha256Hex } from '../../core/security/hmac.ts';
import { header, type VerifyResult, type WebhookRequest } from '../types.ts';

/**
 * `Linear-Signature` is the hex HMAC-SHA256 of the raw body. The body's `webhookTimestamp` (epoch
 * ms) is covered by the signature, so a replayed body cannot carry a fresh timestamp; we reject
 * anything outside the window (Linear recommends 60 s; the SDK's LinearWebhookClient does the same
 * and falls back to a `linear-timestamp` header, which we accept too).
 */
export function verifyLinear(req: WebhookRequest, secret: string, windowMs = 60_000): VerifyResult {
  const signature = header(req, 'linear-signature');
  if (!signature) return { ok: false, reason: 'missing Linear-Signature header' };
  if (!verifyHmacSha256Hex(secret, req.rawBody, signature.trim())) {
    return { ok: false, reason: 'Linear-Signature does not match the body' };
  }
  const ts = webhookTimestamp(req);
  if (ts === null) return { ok: false, reason: 'no webhookTimestamp in the body' };
  if (Math.abs(req.nowMs - ts) > windowMs) {
    return { ok: false, reason: `webhookTimestamp ${ts} is outside the ${windowMs} ms window` };
  }
  return { ok: true, deliveryId: header(req, 'linear-delivery') ?? null };
}

function webhookTimestamp(req: WebhookRequest): number | null {
  try {
    const body: unknown = JSON.parse(req.rawBody.toString('utf8'));
    if (typeof body === 'object' && body !== null && 'webhookTimestamp' in body) {
      const ts = Number(body.webhookTimestamp);
      if (Number.isFinite(ts)) return ts;
    }
  } catch {
    // A signed body that is not JSON has no timestamp; fall through to the header.
  }
  const fromHeader = Number(header(req, 'linear-timestamp'));
  return Number.isFinite(fromHeader) && fromHeader > 0 ? fromHeader : null;
}
