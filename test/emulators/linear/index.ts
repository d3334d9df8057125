/**
 * Linear API emulator (test infrastructure and a labelled sandbox — never the real Linear).
 * GraphQL at POST /graphql over Linear's published schema, signed webhooks with Linear's retry
 * schedule, Linear's rate-limit headers and errors. See README.md for what it does not do.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { EmulatedUser } from '../common/actors.ts';
import {
  startEmulator,
  type EmulatorKit,
  type EmulatorRequest,
  type EmulatorResponse,
  type PlatformEmulator,
  type RunningEmulator,
} from '../common/server.ts';
import type { RetryPolicy } from '../common/webhooks.ts';
import { operationName, runGraphQL } from './graphql.ts';
import type { Ctx, LinearEvent } from './resolvers.ts';
import { LinearState, type LinearSeed } from './state.ts';

export type { LinearSeed } from './state.ts';
export { linearSchema } from './graphql.ts';

export interface LinearEmulatorOptions {
  /**
   * Requests per hour per user, reported in X-RateLimit-Requests-* and enforced. Linear's
   * published figure for API keys is 2,500/h (see PLATFORMS.md: the docs contradict themselves).
   */
  requestsPerHour?: number;
}

/** Linear: answer 200 within 5 s, else retried at most 3 times after 1 min, 1 h and 6 h. */
export const LINEAR_RETRY_POLICY: RetryPolicy = {
  delaysMs: [60_000, 3_600_000, 21_600_000],
  retryOn: () => true,
  timeoutMs: 5_000,
};

const HOUR_MS = 3_600_000;

export function createLinearEmulator(opts: LinearEmulatorOptions = {}): PlatformEmulator & {
  /** The live workspace, for in-process assertions. */
  readonly workspace: LinearState;
} {
  const limit = opts.requestsPerHour ?? 2500;
  let st: LinearState | null = null;
  let budgets = new Map<string, { windowStart: number; used: number }>();

  const workspace = (): LinearState => {
    if (!st) throw new Error('using the Linear emulator: reset() has not run');
    return st;
  };

  function rateHeaders(remaining: number, resetMs: number): Record<string, string> {
    return {
      'X-RateLimit-Requests-Limit': String(limit),
      'X-RateLimit-Requests-Remaining': String(Math.max(0, remaining)),
      'X-RateLimit-Requests-Reset': String(resetMs),
    };
  }

  function ratelimitedBody(): unknown {
    return {
      errors: [
        {
          message: 'Rate limit exceeded',
          extensions: {
            code: 'RATELIMITED',
            type: 'ratelimited',
            statusCode: 429,
            userError: true,
            userPresentableMessage:
              'You have exceeded the rate limit. Please wait before making more requests.',
          },
        },
      ],
    };
  }

  /**
   * Rate-limited answer. Real Linear's HTTP status is unverified (reportedly 400); we send 400
   * with `extensions.type: "ratelimited"` (which the SDK maps to RatelimitedLinearError, before
   * looking at the status) and a Retry-After header (which the SDK reads into `retryAfter`).
   */
  function ratelimited(retryAfterSec: number, resetMs: number): EmulatorResponse {
    return {
      status: 400,
      headers: { 'Retry-After': String(retryAfterSec), ...rateHeaders(0, resetMs) },
      body: ratelimitedBody(),
    };
  }

  function deliver(kit: EmulatorKit, e: LinearEvent): void {
    const s = workspace();
    for (const hook of s.webhooks.values()) {
      if (!hook.enabled || !hook.resourceTypes.includes(e.type)) continue;
      if (hook.teamId ? hook.teamId !== e.teamId : !hook.allPublicTeams) continue;
      const deliveryId = randomUUID();
      const secret = hook.secret;
      const url =
        typeof e.data.url === 'string' ? e.data.url : (e.data.issue as { url?: string } | undefined)?.url;
      kit.webhooks.deliver(deliveryId, hook.url, () => {
        // Each attempt is signed afresh: webhookTimestamp is part of the signed body and
        // receivers (the SDK included) reject timestamps older than 60 s.
        const payload = {
          action: e.action,
          actor: actorOf(e.actor),
          createdAt: e.createdAt,
          data: e.data,
          ...(e.updatedFrom ? { updatedFrom: e.updatedFrom } : {}),
          url,
          type: e.type,
          organizationId: s.org.id,
          webhookTimestamp: Date.now(),
          webhookId: hook.id,
        };
        const body = JSON.stringify(payload);
        return {
          headers: {
            'Linear-Delivery': deliveryId,
            'Linear-Event': e.type,
            'Linear-Signature': createHmac('sha256', secret).update(body).digest('hex'),
            'User-Agent': 'Linear-Webhook',
          },
          body,
        };
      });
    }
  }

  return {
    platform: 'linear',
    retryPolicy: LINEAR_RETRY_POLICY,
    get workspace() {
      return workspace();
    },

    tokenOf(req) {
      const h = req.headers.authorization;
      if (!h) return null;
      const token = h.replace(/^Bearer\s+/i, '').trim();
      return token === '' ? null : token;
    },

    unauthenticated() {
      // Status unverified; the SDK maps `type: "authentication error"` to AuthenticationLinearError.
      return {
        status: 400,
        body: {
          errors: [
            {
              message: 'Authentication required, not authenticated',
              extensions: {
                code: 'AUTHENTICATION_ERROR',
                type: 'authentication error',
                statusCode: 401,
                userError: true,
                userPresentableMessage: 'You need to authenticate to access this operation.',
              },
            },
          ],
        },
      };
    },

    operationOf(req) {
      return req.method === 'POST' && req.path === '/graphql' ? operationName(req.rawBody) : null;
    },

    async handle(req: EmulatorRequest, kit: EmulatorKit): Promise<EmulatorResponse> {
      if (req.path !== '/graphql')
        return { status: 404, headers: { 'content-type': 'text/plain' }, body: 'Not Found' };
      if (req.method !== 'POST')
        return {
          status: 405,
          body: {
            errors: [
              { message: 'GraphQL only supports POST requests.', extensions: { code: 'METHOD_NOT_ALLOWED' } },
            ],
          },
        };
      const now = Date.now();
      let b = budgets.get(req.actor.id);
      if (!b || now - b.windowStart >= HOUR_MS)
        budgets.set(req.actor.id, (b = { windowStart: now, used: 0 }));
      const resetMs = b.windowStart + HOUR_MS;
      if (b.used >= limit) return ratelimited(Math.ceil((resetMs - now) / 1000), resetMs);
      b.used++;
      const s = workspace();
      const events: LinearEvent[] = [];
      const ctx: Ctx = { st: s, actor: req.actor, emit: (e) => events.push(e) };
      const result = await runGraphQL(req.rawBody, ctx);
      for (const e of events) deliver(kit, e);
      return { status: result.status, headers: rateHeaders(limit - b.used, resetMs), body: result.body };
    },

    rateLimited(retryAfterSec) {
      return ratelimited(retryAfterSec, Date.now() + retryAfterSec * 1000);
    },

    serverError(status) {
      if (status === 500)
        return {
          status,
          body: {
            errors: [
              {
                message: 'Internal server error',
                extensions: { code: 'INTERNAL_SERVER_ERROR', type: 'internal error', statusCode: 500 },
              },
            ],
          },
        };
      // Other 5xx come from the edge in front of the API, as a page rather than GraphQL JSON.
      return {
        status,
        headers: { 'content-type': 'text/html; charset=utf-8' },
        body: `<html><body><h1>${status} Service Unavailable</h1></body></html>`,
      };
    },

    reset(kit) {
      st = new LinearState(kit.actors);
      budgets = new Map();
    },

    seed(doc, _kit) {
      workspace().seed(doc as LinearSeed);
    },

    state() {
      return workspace().snapshot();
    },
  };
}

function actorOf(u: EmulatedUser): Record<string, unknown> {
  return { id: u.id, name: u.name, email: u.email, type: 'user' };
}

export async function startLinearEmulator(
  opts: { port?: number; webhookTimeScale?: number; seed?: LinearSeed } & LinearEmulatorOptions = {},
): Promise<RunningEmulator & { workspace: LinearState }> {
  const platform = createLinearEmulator(opts);
  const running = await startEmulator(platform, opts);
  if (opts.seed) platform.seed(opts.seed, running.kit);
  return Object.defineProperty(running, 'workspace', {
    get: () => platform.workspace,
    enumerable: true,
  }) as RunningEmulator & { workspace: LinearState };
}

/** Tokens of the demo data; LINEAR_BOT_TOKEN is the one Lockstep is configured with. */
export const LINEAR_DEMO_TOKENS = {
  bot: 'lin_api_emulator_lockstep_bot',
  alice: 'lin_api_emulator_alice',
  bob: 'lin_api_emulator_bob',
  carol: 'lin_api_emulator_carol',
} as const;

/** Sandbox demo data: team ENG with Linear's default states, three people and the Lockstep bot. */
export function demoSeed(): LinearSeed {
  return {
    organization: { name: 'Lockstep Sandbox (emulated Linear)', urlKey: 'lockstep-sandbox' },
    users: [
      {
        name: 'Lockstep Bot',
        email: 'lockstep-bot@example.com',
        tokens: [LINEAR_DEMO_TOKENS.bot],
        bot: true,
        admin: true,
      },
      { name: 'Alice Example', email: 'alice@example.com', tokens: [LINEAR_DEMO_TOKENS.alice], admin: true },
      { name: 'Bob Example', email: 'bob@example.com', tokens: [LINEAR_DEMO_TOKENS.bob] },
      { name: 'Carol Example', email: 'carol@example.com', tokens: [LINEAR_DEMO_TOKENS.carol] },
    ],
    teams: [{ key: 'ENG', name: 'Engineering' }],
    labels: [
      { name: 'bug', color: '#eb5757' },
      { name: 'feature', color: '#bb87fc' },
      { name: 'improvement', color: '#4ea7fc' },
    ],
    issues: [
      {
        teamKey: 'ENG',
        title: 'Login page times out on slow networks',
        description: 'Seen on 3G: the form spins for 30 s, then fails.',
        priority: 2,
        state: 'Todo',
        assigneeEmail: 'alice@example.com',
        creatorEmail: 'bob@example.com',
        labels: ['bug'],
      },
      {
        teamKey: 'ENG',
        title: 'Export reports as CSV',
        priority: 3,
        state: 'Backlog',
        creatorEmail: 'carol@example.com',
        labels: ['feature'],
      },
    ],
    comments: [
      { issue: 'ENG-1', userEmail: 'bob@example.com', body: 'Reproduced on Chrome with throttling.' },
    ],
  };
}
