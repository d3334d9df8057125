/**
 * Requests Linear would reject, and injected faults, as the official SDK sees them: which
 * LinearError class it throws, with what status, and what the ledger counted.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  AuthenticationLinearError,
  GraphqlLinearError,
  InternalLinearError,
  InvalidInputLinearError,
  LinearClient,
  LinearError,
  NetworkLinearError,
  RatelimitedLinearError,
} from '@linear/sdk';
import type { EmulatorControl } from '../common/control-client.ts';
import { demoSeed, LINEAR_DEMO_TOKENS } from './index.ts';
import { startDemo, type Emu } from './harness.ts';

let emu: Emu;
let control: EmulatorControl;
let bot: LinearClient;
let teamId: string;

before(async () => {
  let client: (who: string) => LinearClient;
  ({ emu, control, client } = await startDemo());
  bot = client('bot');
});
after(() => emu.close());
beforeEach(async () => {
  await control.reset();
  await control.seed(demoSeed());
  teamId = (await bot.teams()).nodes[0]!.id;
  await control.clearLedger();
});

/** The first GraphQL error's extensions as the server sent them. */
function ext(e: unknown): Record<string, unknown> {
  const raw = (e as LinearError).raw as {
    response?: { errors?: { extensions?: Record<string, unknown> }[] };
  };
  return raw.response?.errors?.[0]?.extensions ?? {};
}

async function rejection(p: Promise<unknown>): Promise<LinearError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof LinearError, `expected a LinearError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the request to be rejected');
}

describe('Linear emulator: requests the schema rejects', () => {
  it('an unknown input field (IssueUpdateInput has no "foo") → 400, GraphqlLinearError', async () => {
    const e = await rejection(bot.updateIssue('ENG-1', { foo: 1 } as never));
    assert.ok(e instanceof GraphqlLinearError);
    assert.equal(e.status, 400);
    assert.match(e.message, /Field "foo" is not defined by type "IssueUpdateInput"/);
    assert.equal(ext(e).code, 'BAD_USER_INPUT');
  });

  it('a wrong type (priority "high") → 400', async () => {
    const e = await rejection(bot.updateIssue('ENG-1', { priority: 'high' } as never));
    assert.ok(e instanceof GraphqlLinearError);
    assert.equal(e.status, 400);
    assert.match(e.message, /Int cannot represent non-integer value: "high"/);
  });

  it('a missing required field (issueCreate without teamId) → 400', async () => {
    const e = await rejection(bot.createIssue({ title: 'x' } as never));
    assert.ok(e instanceof GraphqlLinearError);
    assert.match(e.message, /Field "teamId" of required type "String!" was not provided/);
  });

  it('an unknown enum value (orderBy: sideways) → 400', async () => {
    const e = await rejection(bot.issues({ orderBy: 'sideways' as never }));
    assert.ok(e instanceof GraphqlLinearError);
    assert.match(e.message, /Value "sideways" does not exist in "PaginationOrderBy" enum/);
  });

  it('a field the schema does not have → 400, GRAPHQL_VALIDATION_FAILED', async () => {
    const e = await rejection(bot.client.rawRequest('query { issue(id: "ENG-1") { id colour } }'));
    assert.ok(e instanceof GraphqlLinearError);
    assert.equal(e.status, 400);
    assert.equal(ext(e).code, 'GRAPHQL_VALIDATION_FAILED');
    assert.match(e.message, /Cannot query field "colour" on type "Issue"/);
  });

  it('a syntax error → 400, GRAPHQL_PARSE_FAILED', async () => {
    const e = await rejection(bot.client.rawRequest('query { issue(id: "ENG-1") { id '));
    assert.equal(e.status, 400);
    assert.equal(ext(e).code, 'GRAPHQL_PARSE_FAILED');
  });
});

describe('Linear emulator: requests Linear refuses on their content', () => {
  it('an unknown issue → "Entity not found: Issue", InvalidInputLinearError', async () => {
    const e = await rejection(bot.issue('ENG-999'));
    assert.ok(e instanceof InvalidInputLinearError);
    assert.equal(e.errors?.[0]?.message, 'Could not find referenced Issue.');
    assert.equal(ext(e).code, 'INPUT_ERROR');
    assert.equal((e.raw as { response: { data: unknown } }).response.data, null);
  });

  it('priority outside 0–4 and a state from another team are refused', async () => {
    const e = await rejection(bot.createIssue({ teamId, title: 'x', priority: 7 }));
    assert.ok(e instanceof InvalidInputLinearError);
    assert.match(e.message, /priority must not be greater than 4/);
    const other = await control.seed({ teams: [{ key: 'OPS', name: 'Operations' }] });
    assert.ok(other);
    const opsStates = await bot.workflowStates({ filter: { team: { key: { eq: 'OPS' } } } });
    const e2 = await rejection(bot.updateIssue('ENG-1', { stateId: opsStates.nodes[0]!.id }));
    assert.ok(e2 instanceof InvalidInputLinearError);
  });

  it('a request without Authorization → AuthenticationLinearError', async () => {
    const anon = new LinearClient({
      apiKey: 'x',
      apiUrl: `${emu.url}/graphql`,
      headers: { Authorization: '' },
    });
    const e = await rejection(anon.viewer);
    assert.ok(e instanceof AuthenticationLinearError);
    const ledger = await control.ledger();
    assert.equal(ledger.entries.at(-1)?.actor, 'anonymous');
  });

  it('a filter the emulator does not model fails loudly instead of being ignored', async () => {
    const e = await rejection(bot.issues({ filter: { cycle: { number: { eq: 1 } } } }));
    assert.match(e.message, /Linear emulator does not support the filter field cycle/);
  });
});

describe('Linear emulator: faults', () => {
  it('rate limit: RatelimitedLinearError with retryAfter and the X-RateLimit headers, one request', async () => {
    await control.fault({
      kind: 'rate_limit',
      retryAfterSec: 7,
      count: 1,
      match: { operation: 'issueUpdate' },
    });
    const e = await rejection(bot.updateIssue('ENG-1', { title: 'blocked' }));
    assert.ok(e instanceof RatelimitedLinearError);
    assert.equal(e.retryAfter, 7);
    assert.equal(e.requestsRemaining, 0);
    assert.equal(e.requestsLimit, 2500);
    assert.ok((e.requestsResetAt ?? 0) > Date.now());
    assert.equal(ext(e).code, 'RATELIMITED');
    // The fault took exactly one call; the retry goes through and the title was never changed by the first.
    assert.equal((await bot.issue('ENG-1')).title, 'Login page times out on slow networks');
    await bot.updateIssue('ENG-1', { title: 'now' });
    const { summary } = await control.ledger();
    assert.equal(summary.byRoute['POST /graphql issueUpdate'], 2);
    assert.equal(summary.total, 3);
  });

  it('the hourly request budget is enforced and reported on every response', async () => {
    const small = await startDemo({ requestsPerHour: 3 });
    try {
      const c = small.client('alice');
      const r1 = await c.client.rawRequest('query { viewer { id } }');
      assert.equal(r1.headers?.get('x-ratelimit-requests-remaining'), '2');
      await c.client.rawRequest('query { viewer { id } }');
      const r3 = await c.client.rawRequest('query { viewer { id } }');
      assert.equal(r3.headers?.get('x-ratelimit-requests-remaining'), '0');
      const e = await rejection(c.viewer);
      assert.ok(e instanceof RatelimitedLinearError);
      assert.ok((e.retryAfter ?? 0) > 3000 && (e.retryAfter ?? 0) <= 3600);
      // Budgets are per user: the bot still has its own.
      assert.ok(await small.client('bot').viewer);
    } finally {
      await small.emu.close();
    }
  });

  it('5xx: 500 → InternalLinearError, 503 → NetworkLinearError; counted in the ledger', async () => {
    await control.fault({ kind: 'server_error', status: 500, count: 1 });
    assert.ok((await rejection(bot.viewer)) instanceof InternalLinearError);
    await control.fault({ kind: 'server_error', status: 503, count: 1 });
    const e = await rejection(bot.viewer);
    assert.ok(e instanceof NetworkLinearError);
    assert.equal(e.status, 503);
    assert.ok(await bot.viewer);
    const { entries } = await control.ledger();
    assert.deepEqual(
      entries.map((x) => x.status),
      [500, 503, 200],
    );
  });

  it('latency delays the answer; a timeout never answers and the client gives up', async () => {
    await control.fault({ kind: 'latency', ms: 300, count: 1 });
    const t0 = Date.now();
    await bot.viewer;
    assert.ok(Date.now() - t0 >= 290);

    await control.fault({ kind: 'timeout', count: 1 });
    const impatient = new LinearClient({
      apiKey: LINEAR_DEMO_TOKENS.bot,
      apiUrl: `${emu.url}/graphql`,
      signal: AbortSignal.timeout(200),
    } as ConstructorParameters<typeof LinearClient>[0]);
    await assert.rejects(impatient.viewer);
    const { entries } = await control.ledger();
    assert.deepEqual(
      entries.map((x) => x.status),
      [200, 0],
    );
  });
});
