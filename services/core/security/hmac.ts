/**
 * The one HMAC compare every connector uses (STYLE.md: security code lives once, so no copy can
 * lose its length check). All four platforms sign with hex HMAC-SHA256; they differ only in what
 * is signed (Slack prefixes `v0:<ts>:`) and how the header is framed (Jira `sha256=`, Slack `v0=`),
 * which each connector's verify.ts handles before calling this.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const HEX = /^[0-9a-fA-F]+$/;

/** Hex HMAC-SHA256 of `message` keyed with `secret`. */
export function hmacSha256Hex(secret: string | Buffer, message: string | Buffer): string {
  return createHmac('sha256', secret).update(message).digest('hex');
}

/**
 * Constant-time comparison of two byte strings. Different lengths are unequal without calling
 * `timingSafeEqual` (which throws on them); the length of an HMAC is public, so that early return
 * leaks nothing secret.
 */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/**
 * True when `presentedHex` is the hex HMAC-SHA256 of `message` under `secret`.
 * Rejects non-hex, odd-length and wrong-length signatures: `Buffer.from(x, 'hex')` silently stops
 * at the first bad character, so without the format check `"ab"+"zz…"` would decode to a prefix.
 */
export function verifyHmacSha256Hex(
  secret: string | Buffer,
  message: string | Buffer,
  presentedHex: string,
): boolean {
  if (presentedHex.length === 0 || presentedHex.length % 2 !== 0 || !HEX.test(presentedHex)) return false;
  const expected = createHmac('sha256', secret).update(message).digest();
  return constantTimeEqual(Buffer.from(presentedHex, 'hex'), expected);
}
