/**
 * Egress against hanging platforms and the platforms' rate-limit headers, through the real
 * connectors and SDKs (jira.js, @linear/sdk) on the emulators (test infrastructure, not the SaaS).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { jiraConnector } from '../connectors/jira/index.ts';
import { linearConnector } from '../connectors/linear/index.ts';
import type { BoundConnector } from '../connectors/types.ts';
import { entityState } from '../connectors/types.ts';
import { CircuitBreaker, RateBudget } from '../core/resilience/index.ts';
import type { WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import type { RunningEmulator } from '../../test/emulators/common/server.ts';
import * as jiraEmu from '../../test/emulators/jira/index.ts';
import * as linearEmu from '../../test/emulators/linear/index.ts';
import { processCommands, type CommandMeta, type EgressDeps } from './egress.ts';

/** Short, so the hanging call is given up quickly; long enough for an answered call on a loaded machine. */
const TIMEOUT_MS = 1500;

let jira: RunningEmulator;
let linear: Awaited<ReturnType<typeof linearEmu.startLinearEmulator>>;
let jiraC: BoundConnector;
let linearC: BoundConnector;
before(async () => {
  jira = await jiraEmu.startJiraEmulator({ seed: jiraEmu.demoSeed(), webhookTimeScale: 0.001 });
  linear = await linearEmu.startLinearEmulator({ seed: linearEmu.demoSeed(), webhookTimeScale: 0.001 });
  jiraC = jiraConnector.bind(
    jiraConnector.configSchema.parse({
      host: jira.url,
      email: 'lockstep-bot@example.com',
      apiToken: jiraEmu.DEMO_BOT_TOKEN,
      webhookSecret: 'unused-here',
      projects: ['ENG'],
      requestTimeoutMs: TIMEOUT_MS,
    }),
  );
  linearC = linearConnector.bind(
    linearConnector.configSchema.parse({
      apiKey: linearEmu.LINEAR_DEMO_TOKENS.bot,
      webhookSecret: 'unused-here',
      apiUrl: `${linear.url}/graphql`,
      teams: ['ENG'],
      requestTimeoutMs: TIMEOUT_MS,
    }),
  );
});
after(async () => {
  await jira?.close();
  await linear?.close();
});

/** Counts the tokens drawn, so a test can compare them with the requests the emulator saw. */
class CountingBudget extends RateBudget {
  drawn = 0;
  override acquire(): Promise<void> {
    this.drawn++;
    return super.acquire();
  }
}

function deps(c: BoundConnector, budget = new CountingBudget({ limit: 1000, perMs: 1000 })) {
  const registry = new Registry();
  const outcomes: WriteOutcome[] = [];
  const dead: string[] = [];
  const counter = <L extends string>(name: string, labelNames: L[]) =>
    new Counter<L>({ name, help: name, labelNames, registers: [registry] });
  const d: EgressDeps = {
    platform: c.platform,
    applier: c.createApplier(null, budget),
    classify: (e) => c.classifyError(e),
    budget,
    breaker: new CircuitBreaker({ failureThreshold: 100, openMs: 1000 }),
    applied: {
      get: async () => null,
      record: async () => {},
    },
    publishOutcome: async (o) => void outcomes.push(o),
    deadLetter: async (p, e) => void dead.push(`${p.cmd.commandId}:${e.category}`),
    retry: { maxAttempts: 6, baseMs: 20, maxMs: 200 },
    heartbeat: async () => {},
    stopping: () => false,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: Date.now,
    logger: pino({ level: 'silent' }),
    metrics: {
      commands: counter('c', ['platform', 'result']),
      apiCalls: counter('a', ['platform', 'result']),
      applySeconds: new Histogram({ name: 'h', help: 'h', labelNames: ['platform'], registers: [registry] }),
      infraRetries: counter('i', ['platform', 'step']),
    },
  };
  return { d, outcomes, dead, budget };
}

const meta: CommandMeta = { topic: 'cmds', partition: 0, offset: '0', key: 'k', raw: null, headers: {} };
let n = 0;
function create(platform: string, title: string): { cmd: WriteCommand; meta: CommandMeta } {
  const id = `cmd-${platform}-${++n}-${Date.now()}`;
  return {
    meta,
    cmd: {
      commandId: id,
      linkId: `link-${id}`,
      flowId: 'eng',
      platform,
      workspace: 'ENG',
      action: 'create',
      entityType: 'issue',
      targetId: null,
      parentId: null,
      fields: entityState({ title }),
      base: null,
      marker: `marker-${id}`,
      causedBy: null,
      unresolved: [],
      cause: null,
      createdAtMs: 1,
    },
  };
}

const seq = (e: RunningEmulator) => e.ledger.list().at(-1)?.seq ?? 0;

/** Issues on the emulator with this title (from its own state, not through the API). */
async function jiraIssuesTitled(title: string): Promise<number> {
  const state = (await (await fetch(`${jira.url}/_emulator/state`)).json()) as {
    issues: { fields?: { summary?: string }; summary?: string }[];
  };
  return state.issues.filter((i) => (i.fields?.summary ?? i.summary) === title).length;
}

describe('timeouts: a hanging platform', () => {
  for (const applied of [false, true]) {
    const what = applied ? 'applies the create but never answers' : 'never answers the create';
    it(`Jira ${what}: the call times out, is retried, and the issue exists exactly once`, async () => {
      const h = deps(jiraC);
      const title = `jira hang ${applied} ${Date.now()}`;
      const from = seq(jira);
      jira.faults.add({ kind: 'timeout', applied, count: 1, match: { operation: 'createIssue' } });
      await processCommands(h.d, [create('jira', title)]);
      assert.deepEqual(h.dead, [], 'nothing was dead-lettered');
      assert.equal(h.outcomes.length, 1);
      assert.ok(['applied', 'already_applied'].includes(h.outcomes[0]!.status), h.outcomes[0]!.status);
      const creates = jira.ledger.list(from).filter((e) => e.operation === 'createIssue');
      assert.equal(creates[0]?.status, applied ? 201 : 0, 'the first create hung');
      // A loaded machine may time out a slow (answered) create too; each one that landed is found
      // by its marker before the next attempt, so exactly one is ever carried out.
      const landed = creates.filter((e) => e.status === 201);
      assert.equal(landed.length, 1, 'exactly one create was carried out');
      assert.equal(await jiraIssuesTitled(title), 1, 'the issue exists exactly once');
    });

    it(`Linear ${what}: the call times out, is retried, and the issue exists exactly once`, async () => {
      const h = deps(linearC);
      const title = `linear hang ${applied} ${Date.now()}`;
      const from = seq(linear);
      linear.faults.add({ kind: 'timeout', applied, count: 1, match: { operation: 'issueCreate' } });
      await processCommands(h.d, [create('linear', title)]);
      assert.deepEqual(h.dead, [], 'nothing was dead-lettered');
      assert.equal(h.outcomes.length, 1);
      assert.ok(['applied', 'already_applied'].includes(h.outcomes[0]!.status), h.outcomes[0]!.status);
      const landed = linear.ledger
        .list(from)
        .filter((e) => e.operation === 'issueCreate' && e.status !== 0 && e.status < 300);
      assert.equal(landed.length, 1, 'exactly one issueCreate was carried out');
      const issues = [...linear.workspace.issues.values()].filter((i) => i.title === title);
      assert.equal(issues.length, 1, 'the issue exists exactly once');
    });
  }
});

describe('rate budget: every HTTP request draws from the platform budget', () => {
  it('Jira: tokens drawn equal the requests the emulator counted (a create with a transition, an update, a poll)', async () => {
    const budget = new CountingBudget({ limit: 1000, perMs: 1000 });
    const h = deps(jiraC, budget);
    const from = seq(jira);
    const c = create('jira', `jira budget ${Date.now()}`);
    c.cmd.fields = entityState({
      title: c.cmd.fields.title,
      status: { category: 'in_progress', name: 'In Progress' },
    });
    await processCommands(h.d, [c]);
    const targetId = h.outcomes[0]?.targetId ?? null;
    assert.ok(targetId, 'the create named its issue');
    await processCommands(h.d, [
      {
        meta,
        cmd: {
          ...c.cmd,
          commandId: `${c.cmd.commandId}-u`,
          action: 'update',
          targetId,
          fields: entityState({ title: 'renamed', priority: 'high' }),
        },
      },
    ]);
    await jiraC.createPoller(null, budget).poll(null);
    const requests = jira.ledger.list(from).length;
    assert.ok(requests >= 8, `a create, a transition, an update and a poll are many requests (${requests})`);
    assert.equal(budget.drawn, requests, 'one token per request');
  });

  it('Linear: tokens drawn equal the requests the emulator counted (a create, an update, a poll)', async () => {
    const budget = new CountingBudget({ limit: 1000, perMs: 1000 });
    const h = deps(linearC, budget);
    const from = seq(linear);
    const c = create('linear', `linear budget ${Date.now()}`);
    await processCommands(h.d, [c]);
    const targetId = h.outcomes[0]?.targetId ?? null;
    assert.ok(targetId, 'the create named its issue');
    await processCommands(h.d, [
      {
        meta,
        cmd: {
          ...c.cmd,
          commandId: `${c.cmd.commandId}-u`,
          action: 'update',
          targetId,
          fields: entityState({ title: 'renamed', priority: 'high' }),
        },
      },
    ]);
    await linearC.createPoller(null, budget).poll(null);
    const requests = linear.ledger.list(from).length;
    assert.ok(requests >= 6, `a create, an update and a poll are many requests (${requests})`);
    assert.equal(budget.drawn, requests, 'one token per request');
  });

  it('Linear: X-RateLimit-Requests-Remaining caps the budget, and a spent window holds the next request until its reset', async () => {
    const small = await linearEmu.startLinearEmulator({ seed: linearEmu.demoSeed(), requestsPerHour: 4 });
    try {
      const c = linearConnector.bind(
        linearConnector.configSchema.parse({
          apiKey: linearEmu.LINEAR_DEMO_TOKENS.bot,
          webhookSecret: 'unused-here',
          apiUrl: `${small.url}/graphql`,
          teams: ['ENG'],
        }),
      );
      // Our own figure would allow 100 requests a second.
      const budget = new CountingBudget({ limit: 100, perMs: 1000 });
      const applier = c.createApplier(null, budget);
      await applier.findByMarker({ marker: 'nothing-here', entityType: 'comment', parentId: null });
      await applier.findByMarker({ marker: 'nothing-here', entityType: 'comment', parentId: null });
      // Linear said 2 of 4 are left in a window that resets in an hour: ~30 min a request.
      const wait = budget.waitMs();
      assert.equal(wait, 0, 'the budget still holds what the platform said is left');
      await applier.findByMarker({ marker: 'nothing-here', entityType: 'comment', parentId: null });
      await applier.findByMarker({ marker: 'nothing-here', entityType: 'comment', parentId: null });
      assert.ok(
        budget.waitMs() > 10 * 60_000,
        `the next request waits for the platform's reset, not our own 10 ms pacing (${budget.waitMs()} ms)`,
      );
      assert.equal(budget.drawn, small.ledger.list().length);
    } finally {
      await small.close();
    }
  });

  it('Jira: a 429 holds every next request of the platform until its Retry-After', async () => {
    const budget = new CountingBudget({ limit: 1000, perMs: 1000 });
    const applier = jiraC.createApplier(null, budget);
    jira.faults.add({ kind: 'rate_limit', retryAfterSec: 30, count: 1 });
    await assert.rejects(applier.findByMarker({ marker: 'x', entityType: 'issue', parentId: null }));
    assert.ok(budget.waitMs() > 25_000, `the budget waits out Retry-After (${budget.waitMs()} ms)`);
  });
});

describe('a target that no longer exists', () => {
  for (const platform of ['linear', 'jira'] as const) {
    it(`${platform}: an update to a deleted issue is a not_found outcome, not a dead letter; a repeated delete is done`, async () => {
      const h = deps(platform === 'linear' ? linearC : jiraC);
      const c = create(platform, `${platform} gone ${Date.now()}`);
      await processCommands(h.d, [c]);
      const targetId = h.outcomes[0]?.targetId ?? null;
      assert.ok(targetId, 'the create named its issue');
      const again = (action: 'update' | 'delete', suffix: string) => ({
        meta,
        cmd: {
          ...c.cmd,
          commandId: `${c.cmd.commandId}-${suffix}`,
          action,
          targetId,
          fields: entityState(action === 'update' ? { title: 'renamed' } : {}),
        },
      });
      await processCommands(h.d, [again('delete', 'd1')]);
      await processCommands(h.d, [again('update', 'u'), again('delete', 'd2')]);
      assert.deepEqual(h.dead, [], 'nothing was dead-lettered');
      const [, deleted, updated, deletedAgain] = h.outcomes;
      assert.equal(deleted?.status, 'applied');
      assert.equal(updated?.status, 'failed');
      assert.equal(updated?.error?.category, 'not_found', JSON.stringify(updated?.error));
      assert.equal(deletedAgain?.status, 'already_applied');
    });
  }
});
