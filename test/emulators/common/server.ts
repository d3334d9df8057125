/**
 * The HTTP shell every platform emulator runs in: 127.0.0.1 only, a request ledger, injected
 * faults answered in the platform's own error shape, and a test-only control API under
 * `/_emulator/` that never mixes with the platform's paths.
 *
 * Control API (JSON):
 *   POST   /_emulator/reset                 state, ledger, faults and delivery log cleared
 *   POST   /_emulator/seed                  body: the platform's seed document
 *   GET    /_emulator/state                 the platform's state, for assertions
 *   POST   /_emulator/faults                body: a Fault (see faults.ts)
 *   DELETE /_emulator/faults
 *   GET    /_emulator/ledger[?since=seq]    {entries, summary}
 *   DELETE /_emulator/ledger
 *   GET    /_emulator/deliveries            webhook delivery log
 *   POST   /_emulator/settings              body: { webhookTimeScale?: number }
 *   *      /_emulator/<platform>/…          the platform's own controls (PlatformEmulator.control)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ActorDirectory, type EmulatedUser } from './actors.ts';
import { FaultBook, type Fault } from './faults.ts';
import { clientClosesIdleConnections } from './keep-alive.ts';
import { Ledger } from './ledger.ts';
import { WebhookDispatcher, type RetryPolicy } from './webhooks.ts';

export interface EmulatorRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  rawBody: Buffer;
  actor: EmulatedUser;
  operation: string | null;
}

export interface EmulatorResponse {
  status: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON; strings as they are (set content-type in headers). */
  body?: unknown;
}

/** What the shell gives a platform: the shared pieces it needs to act like the platform. */
export interface EmulatorKit {
  actors: ActorDirectory;
  webhooks: WebhookDispatcher;
  settings: EmulatorSettings;
}

export interface EmulatorSettings {
  /** Multiplies the platform's real webhook retry delays (1 = real time). */
  webhookTimeScale: number;
}

export interface PlatformEmulator {
  readonly platform: 'linear' | 'jira' | 'asana' | 'slack';
  readonly retryPolicy: RetryPolicy;
  /** Extracts the token from the request; null when the request carries none. */
  tokenOf(req: Omit<EmulatorRequest, 'actor' | 'operation'>): string | null;
  /** Unauthenticated request → the platform's 401 shape. */
  unauthenticated(req: Omit<EmulatorRequest, 'actor' | 'operation'>): EmulatorResponse;
  /** A token that was never issued or was revoked → the platform's answer (default: `unauthenticated`). */
  invalidToken?(req: Omit<EmulatorRequest, 'actor' | 'operation'>): EmulatorResponse;
  /** Operation name for the ledger and fault matching (GraphQL root field, Slack method). */
  operationOf?(req: Omit<EmulatorRequest, 'actor' | 'operation'>): string | null;
  handle(req: EmulatorRequest, kit: EmulatorKit): Promise<EmulatorResponse> | EmulatorResponse;
  rateLimited(retryAfterSec: number, req: EmulatorRequest): EmulatorResponse;
  serverError(status: number, req: EmulatorRequest): EmulatorResponse;
  reset(kit: EmulatorKit): void;
  seed(doc: unknown, kit: EmulatorKit): void;
  state(): unknown;
  /**
   * Platform-specific control routes under `/_emulator/<platform>/…` (e.g. expiring Asana sync
   * tokens); `what` is the part after `<platform>/`. Null → 404.
   */
  control?(method: string, what: string, body: unknown, kit: EmulatorKit): Promise<EmulatorResponse | null>;
}

export interface RunningEmulator {
  url: string;
  port: number;
  ledger: Ledger;
  faults: FaultBook;
  kit: EmulatorKit;
  close(): Promise<void>;
}

const CONTROL = '/_emulator/';

export async function startEmulator(
  platform: PlatformEmulator,
  opts: { port?: number; webhookTimeScale?: number } = {},
): Promise<RunningEmulator> {
  const ledger = new Ledger();
  const faults = new FaultBook();
  const settings: EmulatorSettings = { webhookTimeScale: opts.webhookTimeScale ?? 1 };
  const kit: EmulatorKit = {
    actors: new ActorDirectory(`${platform.platform}-user-`),
    webhooks: new WebhookDispatcher(faults, platform.retryPolicy, () => settings.webhookTimeScale),
    settings,
  };
  platform.reset(kit);

  // Idle keep-alive sockets are the SDK client's to close (see keep-alive.ts): with Node's default
  // 5 s the emulator closed them under clients that were about to reuse them (ECONNRESET).
  const server: Server = clientClosesIdleConnections(
    createServer((req, res) => {
      void serve(req, res).catch((err: unknown) => {
        if (!res.headersSent) send(res, { status: 500, body: { error: String(err) } });
        else res.destroy();
      });
    }),
  );

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const rawBody = await readBody(req);
    const base = {
      method: (req.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      rawBody,
    };
    if (base.path.startsWith(CONTROL)) {
      const what = base.path.slice(CONTROL.length);
      const own = `${platform.platform}/`;
      if (platform.control && what.startsWith(own)) {
        const body: unknown = rawBody.length ? JSON.parse(rawBody.toString('utf8')) : {};
        const r = await platform.control(base.method, what.slice(own.length), body, kit);
        if (r) return send(res, r);
      }
      return send(res, control(base.method, what, base));
    }

    const operation = platform.operationOf?.(base) ?? null;
    const token = platform.tokenOf(base);
    if (token === null) {
      const r = platform.unauthenticated(base);
      ledger.record({
        method: base.method,
        path: base.path,
        operation,
        actor: 'anonymous',
        status: r.status,
      });
      return send(res, r);
    }
    const actor = kit.actors.byToken(token);
    if (actor === undefined) {
      const r = platform.invalidToken?.(base) ?? platform.unauthenticated(base);
      ledger.record({
        method: base.method,
        path: base.path,
        operation,
        actor: 'unknown-token',
        status: r.status,
      });
      return send(res, r);
    }
    const request: EmulatorRequest = { ...base, actor, operation };
    let response: EmulatorResponse | null = null;
    for (const f of faults.takeApi({ method: base.method, path: base.path, operation, actor: actor.id })) {
      if (f.kind === 'latency') await sleep(f.ms);
      else if (f.kind === 'timeout') {
        const status = f.applied ? (await platform.handle(request, kit)).status : 0;
        ledger.record({ method: base.method, path: base.path, operation, actor: actor.id, status });
        // Never answer: the client's own timeout decides. Closed when the server stops.
        return;
      } else if (f.kind === 'rate_limit') response ??= platform.rateLimited(f.retryAfterSec, request);
      else if (f.kind === 'server_error') response ??= platform.serverError(f.status ?? 503, request);
    }
    response ??= await platform.handle(request, kit);
    ledger.record({
      method: base.method,
      path: base.path,
      operation,
      actor: actor.id,
      status: response.status,
    });
    send(res, response);
  }

  function control(
    method: string,
    what: string,
    req: { query: URLSearchParams; rawBody: Buffer },
  ): EmulatorResponse {
    const json = (): unknown => (req.rawBody.length ? JSON.parse(req.rawBody.toString('utf8')) : {});
    switch (`${method} ${what}`) {
      case 'POST reset':
        faults.clear();
        ledger.clear();
        kit.webhooks.clear();
        kit.actors.reset();
        platform.reset(kit);
        return { status: 200, body: { ok: true } };
      case 'POST seed':
        platform.seed(json(), kit);
        return { status: 200, body: { ok: true } };
      case 'GET state':
        return { status: 200, body: platform.state() };
      case 'POST faults':
        faults.add(json() as Fault);
        return { status: 200, body: { ok: true } };
      case 'DELETE faults':
        faults.clear();
        return { status: 200, body: { ok: true } };
      case 'GET ledger': {
        const since = Number(req.query.get('since') ?? 0);
        return { status: 200, body: { entries: ledger.list(since), summary: ledger.summary(since) } };
      }
      case 'DELETE ledger':
        ledger.clear();
        return { status: 200, body: { ok: true } };
      case 'GET deliveries':
        return { status: 200, body: { deliveries: kit.webhooks.log } };
      case 'POST tokens/revoke': {
        // A person deleting an API key: its requests are refused with the platform's 401.
        const { token } = json() as { token?: unknown };
        if (typeof token !== 'string' || token === '')
          return { status: 400, body: { error: 'POST /_emulator/tokens/revoke wants { token }' } };
        return { status: 200, body: { revoked: kit.actors.revoke(token) } };
      }
      case 'POST tokens/issue': {
        const { userId, token } = json() as { userId?: unknown; token?: unknown };
        if (typeof userId !== 'string' || typeof token !== 'string' || token === '')
          return { status: 400, body: { error: 'POST /_emulator/tokens/issue wants { userId, token }' } };
        const issued = kit.actors.issue(userId, token);
        return issued
          ? { status: 200, body: { issued } }
          : { status: 404, body: { error: `no emulated user ${userId}` } };
      }
      case 'POST settings': {
        const s = json() as Partial<EmulatorSettings>;
        if (typeof s.webhookTimeScale === 'number') settings.webhookTimeScale = s.webhookTimeScale;
        return { status: 200, body: settings };
      }
      default:
        return {
          status: 404,
          body: { error: `unknown emulator control route ${method} /_emulator/${what}` },
        };
    }
  }

  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    ledger,
    faults,
    kit,
    async close() {
      kit.webhooks.abandonRetries();
      await kit.webhooks.idle();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: ServerResponse, r: EmulatorResponse): void {
  const headers: Record<string, string> = { ...r.headers };
  let payload: string | undefined;
  if (typeof r.body === 'string') payload = r.body;
  else if (r.body !== undefined) {
    payload = JSON.stringify(r.body);
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  res.writeHead(r.status, headers);
  res.end(payload);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
