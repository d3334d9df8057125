/**
 * Asana webhooks: the `X-Hook-Secret` handshake, then `X-Hook-Signature` on every delivery.
 *
 * Asana hands each webhook its own secret in the handshake (ingest stores it and passes it back as
 * `learnedSecrets`), so a signature may be made with any of several secrets. Asana signs the body
 * only: no timestamp is signed and none is documented, so there is no replay window to check, and
 * Asana sends no delivery-id header (deliveryId is null; the reconciler dedupes by eventId).
 */
import { verifyHmacSha256Hex } from '../../core/security/hmac.ts';
import type { HandshakeResponse, VerifyResult, WebhookRequest } from '../types.ts';

/** One header's value; an array (the header sent twice) is refused, never silently picked from. */
function single(req: WebhookRequest, name: string): string | undefined | 'many' {
  const v = req.headers[name];
  if (Array.isArray(v)) return v.length === 1 ? v[0] : 'many';
  return v;
}

/**
 * True when `X-Hook-Signature` is the lowercase hex HMAC-SHA256 of the raw body under one of
 * `secrets` (the configured webhookSecrets, revealed, plus `req.learnedSecrets`). Never throws.
 */
export function verifyAsana(req: WebhookRequest, secrets: readonly string[]): VerifyResult {
  const signature = single(req, 'x-hook-signature');
  if (signature === undefined || signature === '')
    return { ok: false, reason: 'missing X-Hook-Signature header' };
  if (signature === 'many') return { ok: false, reason: 'more than one X-Hook-Signature header' };
  const all = [...secrets, ...(req.learnedSecrets ?? [])].filter((s) => s !== '');
  if (all.length === 0)
    return { ok: false, reason: 'no Asana webhook secret is known yet (no handshake seen)' };
  // Every secret is tried (no early exit), so the time taken does not tell which one matched.
  let ok = false;
  for (const secret of all) ok = verifyHmacSha256Hex(secret, req.rawBody, signature.trim()) || ok;
  return ok
    ? { ok: true, deliveryId: null }
    : { ok: false, reason: 'X-Hook-Signature does not match the body' };
}

/**
 * A request carrying `X-Hook-Secret` is the handshake Asana makes while `POST /webhooks` is open:
 * answer 200 echoing the header, and hand the secret to ingest to keep for signatures.
 */
export function handshakeAsana(req: WebhookRequest): HandshakeResponse | null {
  const secret = single(req, 'x-hook-secret');
  if (secret === undefined || secret === 'many' || secret.trim() === '') return null;
  return { status: 200, headers: { 'X-Hook-Secret': secret }, body: '', learnedSecret: secret };
}
