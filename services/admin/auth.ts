/**
 * Who may act on the status page. Reading needs nothing (the page binds to loopback unless
 * configured otherwise); every action — a POST — needs the admin token from configuration, either
 *   - as `Authorization: Bearer <token>` (scripts; a browser never sends it by itself, so no CSRF), or
 *   - through a session: `POST /login` with the token sets an HttpOnly, SameSite=Strict cookie, and
 *     each action form carries the session's CSRF token, which a page on another origin cannot read.
 * A POST whose Origin header names another origin is refused outright. Sessions live in memory:
 * restarting `lockstep admin` logs everyone out.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Secret } from '../core/config/index.ts';
import { constantTimeEqual } from '../core/security/hmac.ts';

export const SESSION_COOKIE = 'lockstep_admin_session';

export interface Session {
  id: string;
  csrf: string;
  expiresAtMs: number;
  /** A message for the next page view (the result of an action), shown once. */
  flash: string | null;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time, and the digests hide the token's length. */
export function tokenMatches(token: Secret | undefined, presented: string | undefined): boolean {
  if (token === undefined || presented === undefined || presented === '') return false;
  return constantTimeEqual(digest(token.reveal()), digest(presented));
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const name = part.slice(0, i).trim();
    try {
      out[name] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      // a malformed cookie is no cookie
    }
  }
  return out;
}

/** The bearer token of an `Authorization` header, if any. */
export function bearerOf(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m?.[1];
}

/**
 * True when a POST may be from this page: no Origin header (same-origin navigations of older
 * browsers, scripts), or one whose host is the Host the request was sent to.
 */
export function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  if (origin === 'null' || host === undefined) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

export function createSessions(ttlMs: number, now: () => number = Date.now) {
  const sessions = new Map<string, Session>();
  const sweep = () => {
    const t = now();
    for (const [id, s] of sessions) if (s.expiresAtMs <= t) sessions.delete(id);
  };
  return {
    create(): Session {
      sweep();
      const s: Session = {
        id: randomBytes(32).toString('base64url'),
        csrf: randomBytes(32).toString('base64url'),
        expiresAtMs: now() + ttlMs,
        flash: null,
      };
      sessions.set(s.id, s);
      return s;
    },
    get(id: string | undefined): Session | null {
      if (id === undefined) return null;
      const s = sessions.get(id);
      if (!s) return null;
      if (s.expiresAtMs <= now()) {
        sessions.delete(id);
        return null;
      }
      return s;
    },
    /** The form's CSRF token matches the session's (constant time). */
    csrfOk(s: Session, presented: unknown): boolean {
      return typeof presented === 'string' && constantTimeEqual(digest(s.csrf), digest(presented));
    },
    drop(id: string): void {
      sessions.delete(id);
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;

export function sessionCookie(s: Session, ttlMs: number): string {
  return `${SESSION_COOKIE}=${s.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(ttlMs / 1000)}`;
}

export const clearedCookie = `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
