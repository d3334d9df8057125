import { verifyHmacSha256Hex } from '../../core/security/hmac.ts';
import { header, type VerifyResult, type WebhookRequest } from '../types.ts';

/**
 * Admin webhooks with a secret send `X-Hub-Signature: <method>=<hex>` (WebSub); today the method is
 * sha256. We parse the method and refuse any other rather than guess. The signature covers no
 * timestamp, so there is no replay window to check: duplicates are handled downstream by the
 * `X-Atlassian-Webhook-Identifier` (same across Jira's retries) and by eventId.
 */
export function verifyJira(req: WebhookRequest, secret: string): VerifyResult {
  const value = header(req, 'x-hub-signature');
  if (!value) return { ok: false, reason: 'missing X-Hub-Signature header' };
  const eq = value.indexOf('=');
  if (eq <= 0) return { ok: false, reason: 'X-Hub-Signature is not method=signature' };
  const method = value.slice(0, eq).trim().toLowerCase();
  if (method !== 'sha256') return { ok: false, reason: `unsupported X-Hub-Signature method ${method}` };
  if (!verifyHmacSha256Hex(secret, req.rawBody, value.slice(eq + 1).trim())) {
    return { ok: false, reason: 'X-Hub-Signature does not match the body' };
  }
  return { ok: true, deliveryId: header(req, 'x-atlassian-webhook-identifier') ?? null };
}
