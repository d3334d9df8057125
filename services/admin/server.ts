/**
 * `lockstep admin`: the status page. GET routes read (the page, /api/status, /traces/<id>);
 * POST routes act (login, logout, resolve a conflict, retry a dead letter) and need the admin
 * token (./auth.ts). Resolve and retry are the CLI's own code (`conflicts resolve`, `dlq retry`).
 * /healthz, /readyz and /metrics come from the shared HTTP server, like every service's.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../app/config.ts';
import { resolveConflict, type Resolution } from '../cli/commands/conflicts.ts';
import { loadDeadLetters, openDlq, retryDeadLetter } from '../cli/commands/dlq.ts';
import { createHttpServer, onTerminate, shutdownGracefully } from '../core/http/index.ts';
import { createProducer } from '../core/kafka/index.ts';
import type { Logger } from '../core/logging/index.ts';
import { createReconcilerStore } from '../reconciler/store.ts';
import {
  bearerOf,
  clearedCookie,
  createSessions,
  parseCookies,
  sameOrigin,
  SESSION_COOKIE,
  sessionCookie,
  tokenMatches,
  type Session,
} from './auth.ts';
import { messagePage, statusPage, tracePage } from './page.ts';
import { gatherStatus } from './status.ts';
import { fetchTrace, isTraceId, waterfall } from './trace.ts';

/** Recorded as who resolved or retried. */
export const ADMIN_ACTOR = 'admin-page';

const HEADERS = {
  // No script at all; inline styles only (the waterfall's bar positions).
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  // same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on the page's own form POSTs.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

export interface AdminServer {
  url: string;
  close(): Promise<void>;
}

type Form = Record<string, string>;
type Actor = { kind: 'bearer' } | { kind: 'session'; session: Session };

export async function startAdmin(config: AppConfig, logger: Logger): Promise<AdminServer> {
  const a = config.admin;
  const http = createHttpServer({ host: a.host, port: a.port, logger });
  const dlq = openDlq(undefined, config);
  const pool = dlq.pool;
  const store = createReconcilerStore(pool);
  const sessions = createSessions(a.sessionTtlMs);
  const producer = createProducer(dlq.kafka, dlq.serde);
  let producerConnected: Promise<void> | null = null;
  const connectedProducer = async () => {
    await (producerConnected ??= producer.connect().catch((err: unknown) => {
      producerConnected = null;
      throw err;
    }));
    return producer;
  };
  http.addReadinessCheck('postgres', async () => void (await pool.query('select 1')));
  const app = http.app;

  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 64 * 1024 },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
  );
  app.addHook('onSend', async (_req, reply) => {
    reply.headers(HEADERS);
  });

  const sessionOf = (req: FastifyRequest) => sessions.get(parseCookies(req.headers.cookie)[SESSION_COOKIE]);
  const form = (req: FastifyRequest): Form =>
    req.body && typeof req.body === 'object' ? (req.body as Form) : {};

  /** Who is acting, or the refusal already sent. */
  const authorize = (req: FastifyRequest, reply: FastifyReply): Actor | null => {
    const refuse = (code: number, why: string) => {
      logger.warn({ route: req.url, code, why }, 'admin action refused');
      void reply.code(code).type('text/html').send(messagePage('Refused', why));
      return null;
    };
    if (a.token === undefined) return refuse(403, 'Actions are off: no admin.token is configured.');
    if (!sameOrigin(req.headers.origin, req.headers.host))
      return refuse(403, 'Refused: the request came from another origin.');
    const bearer = bearerOf(req.headers.authorization);
    if (bearer !== undefined)
      return tokenMatches(a.token, bearer) ? { kind: 'bearer' } : refuse(401, 'Refused: wrong admin token.');
    const session = sessionOf(req);
    if (!session) return refuse(401, 'Refused: log in with the admin token first.');
    if (!sessions.csrfOk(session, form(req)['csrf']))
      return refuse(403, 'Refused: the form is stale or not from this page (CSRF token).');
    return { kind: 'session', session };
  };

  /** JSON for a script, a message on the next page view for a person. */
  const done = (reply: FastifyReply, actor: Actor, ok: boolean, message: string, extra: object = {}) => {
    if (actor.kind === 'bearer') return reply.code(ok ? 200 : 409).send({ ok, message, ...extra });
    actor.session.flash = message;
    return reply.code(303).header('location', '/').send();
  };

  app.get('/', async (req, reply) => {
    const session = sessionOf(req);
    const flash = session?.flash ?? null;
    if (session) session.flash = null;
    const status = await gatherStatus({ config, pool, store, dlq });
    return reply
      .type('text/html; charset=utf-8')
      .send(
        statusPage(status, { actionsEnabled: a.token !== undefined, csrf: session?.csrf ?? null, flash }),
      );
  });

  app.get('/api/status', async () => gatherStatus({ config, pool, store, dlq }));

  app.get<{ Params: { id: string } }>('/traces/:id', async (req, reply) => {
    const id = req.params.id.toLowerCase();
    if (!isTraceId(id))
      return reply
        .code(400)
        .type('text/html')
        .send(messagePage('Bad trace id', 'A trace id is 16 or 32 hex digits.'));
    const result = await fetchTrace(a.jaegerQueryUrl, id);
    return reply
      .code(result.ok ? 200 : result.status === 'not_found' ? 404 : 502)
      .type('text/html; charset=utf-8')
      .send(tracePage(id, result, result.ok ? waterfall(result.trace) : null));
  });

  app.get<{ Params: { id: string } }>('/api/traces/:id', async (req, reply) => {
    const id = req.params.id.toLowerCase();
    if (!isTraceId(id)) return reply.code(400).send({ error: 'a trace id is 16 or 32 hex digits' });
    const result = await fetchTrace(a.jaegerQueryUrl, id);
    if (!result.ok)
      return reply.code(result.status === 'not_found' ? 404 : 502).send({ error: result.error });
    return waterfall(result.trace);
  });

  app.post('/login', async (req, reply) => {
    if (a.token === undefined)
      return reply.code(403).type('text/html').send(messagePage('Refused', 'No admin.token is configured.'));
    if (!sameOrigin(req.headers.origin, req.headers.host))
      return reply
        .code(403)
        .type('text/html')
        .send(messagePage('Refused', 'The request came from another origin.'));
    if (!tokenMatches(a.token, form(req)['token'])) {
      logger.warn('admin login refused: wrong token');
      return reply.code(401).type('text/html').send(messagePage('Refused', 'Wrong admin token.'));
    }
    const s = sessions.create();
    return reply
      .code(303)
      .header('set-cookie', sessionCookie(s, a.sessionTtlMs))
      .header('location', '/')
      .send();
  });

  app.post('/logout', async (req, reply) => {
    const actor = authorize(req, reply);
    if (!actor) return reply;
    if (actor.kind === 'session') sessions.drop(actor.session.id);
    return reply.code(303).header('set-cookie', clearedCookie).header('location', '/').send();
  });

  app.post<{ Params: { id: string } }>('/conflicts/:id/resolve', async (req, reply) => {
    const actor = authorize(req, reply);
    if (!actor) return reply;
    const f = form(req);
    const how: Resolution | null =
      f['take'] && !f['value']
        ? { take: f['take'] }
        : f['value'] && !f['take']
          ? { valueJson: f['value'] }
          : null;
    if (!how) return done(reply, actor, false, 'Resolving: give either a platform to take or a value.');
    const r = await resolveConflict(config, store, req.params.id, how, ADMIN_ACTOR);
    logger.info({ conflictId: req.params.id, ok: r.ok }, 'conflict resolve from the status page');
    if (!r.ok) return done(reply, actor, false, r.error);
    return done(
      reply,
      actor,
      true,
      `Resolved ${req.params.id}: ${r.field} = ${JSON.stringify(r.value)}; writing to ${r.targets.join(', ') || 'no side'}.`,
      { field: r.field, value: r.value, targets: r.targets },
    );
  });

  app.post<{ Params: { id: string } }>('/dead-letters/:id/retry', async (req, reply) => {
    const actor = authorize(req, reply);
    if (!actor) return reply;
    const entry = (await loadDeadLetters(dlq)).find((e) => e.id === req.params.id);
    if (!entry) return done(reply, actor, false, `Retrying ${req.params.id}: no such dead letter.`);
    const o = await retryDeadLetter(dlq, await connectedProducer(), entry, { by: ADMIN_ACTOR, force: false });
    logger.info({ deadLetter: entry.id, result: o.result }, 'dead letter retry from the status page');
    if (o.result === 'refused') return done(reply, actor, false, `Retrying ${o.id}: ${o.reason}`);
    return done(
      reply,
      actor,
      true,
      o.result === 'retried' ? `Retried ${o.id} to ${o.topic}.` : `${o.id}: ${o.result}`,
      o,
    );
  });

  const { port } = await http.listen();
  const addr = http.app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const url = `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${bound}`;
  const close = async () => {
    await shutdownGracefully(
      [
        { name: 'http', run: () => http.close() },
        { name: 'producer', run: () => (producerConnected ? producer.disconnect() : undefined) },
        { name: 'postgres', run: () => pool.end() },
      ],
      { logger, timeoutMs: 15_000 },
    );
  };
  onTerminate(async () => {
    http.setDraining();
    await close();
    return [];
  });
  return { url, close };
}
