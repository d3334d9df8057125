import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import pino from 'pino';
import type { Applier, ApplyResult, ErrorClass } from '../connectors/types.ts';
import { entityState, staleFields } from '../connectors/types.ts';
import { CircuitBreaker, RateBudget } from '../core/resilience/index.ts';
import type { WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import type { Pending } from './coalesce.ts';
import { coalesce } from './coalesce.ts';
import { createJiraApplier } from '../connectors/jira/apply.ts';
import { jiraConfigSchema } from '../connectors/jira/config.ts';
import { classifyJiraError } from '../connectors/jira/errors.ts';
import { routeName } from '../../test/emulators/common/ledger.ts';
import type { RunningEmulator } from '../../test/emulators/common/server.ts';
import { DEMO_BOT_TOKEN, demoSeed, startJiraEmulator } from '../../test/emulators/jira/index.ts';
import { processCommands, type CommandMeta, type EgressDeps } from './egress.ts';
import type { PendingNote } from './notes.ts';

const meta: CommandMeta = { topic: 'cmds', partition: 0, offset: '0', key: 'k', raw: null, headers: {} };

function cmd(
  id: string,
  fields: Parameters<typeof entityState>[0],
  over: Partial<WriteCommand> = {},
): Pending<CommandMeta> {
  return {
    meta,
    cmd: {
      commandId: id,
      linkId: 'L1',
      flowId: 'eng',
      platform: 'jira',
      workspace: 'ENG',
      action: 'update',
      entityType: 'issue',
      targetId: '10001',
      parentId: null,
      fields: entityState(fields),
      base: null,
      marker: null,
      causedBy: null,
      unresolved: [],
      cause: null,
      createdAtMs: 1,
      ...over,
    },
  };
}

class RateLimited extends Error {}
class Refused extends Error {}
class Invalid extends Error {}

function harness(behaviour: (c: WriteCommand, call: number) => ApplyResult, real?: Applier) {
  let t = 0;
  const calls: WriteCommand[] = [];
  const outcomes: WriteOutcome[] = [];
  const dead: string[] = [];
  const applied = new Map<string, WriteOutcome>();
  const registry = new Registry();
  const deps: EgressDeps = {
    platform: 'jira',
    applier: {
      apply: async (c) => {
        calls.push(c);
        return real ? real.apply(c) : behaviour(c, calls.length);
      },
      findByMarker: async () => null,
    },
    classify: (err): ErrorClass =>
      real
        ? classifyJiraError(err)
        : err instanceof RateLimited
          ? { category: 'rate_limit', retriable: true, retryAfterMs: 2000 }
          : err instanceof Invalid
            ? { category: 'validation', retriable: false }
            : err instanceof Refused
              ? { category: 'auth', retriable: false, credentialsRefused: true }
              : { category: 'network', retriable: true },
    budget: new RateBudget({ limit: 100, perMs: 1000, now: () => t, sleep: async (ms) => void (t += ms) }),
    breaker: new CircuitBreaker({ failureThreshold: 5, openMs: 10_000, now: () => t }),
    applied: {
      get: async (id) => applied.get(id) ?? null,
      record: async (ids, o) => ids.forEach((id) => applied.set(id, o)),
    },
    publishOutcome: async (o) => void outcomes.push(o),
    deadLetter: async (p, e) => void dead.push(`${p.cmd.commandId}:${e.category}`),
    retry: { maxAttempts: 4, baseMs: 100, maxMs: 1000 },
    heartbeat: async () => {},
    stopping: () => false,
    sleep: async (ms) => void (t += ms),
    now: () => t,
    logger: pino({ level: 'silent' }),
    metrics: {
      commands: new Counter({
        name: 'c',
        help: 'c',
        labelNames: ['platform', 'result'],
        registers: [registry],
      }),
      apiCalls: new Counter({
        name: 'a',
        help: 'a',
        labelNames: ['platform', 'result'],
        registers: [registry],
      }),
      applySeconds: new Histogram({ name: 'h', help: 'h', labelNames: ['platform'], registers: [registry] }),
      infraRetries: new Counter({
        name: 'i',
        help: 'i',
        labelNames: ['platform', 'step'],
        registers: [registry],
      }),
    },
  };
  return { deps, calls, outcomes, dead, applied, time: () => t };
}

const ok = (c: WriteCommand): ApplyResult => ({
  targetId: c.targetId ?? 'new',
  targetKey: null,
  written: c.fields,
  platformVersion: 'v',
  platformTsMs: 5,
  alreadyApplied: false,
  skipped: [],
});

describe('coalesce', () => {
  it('folds consecutive updates of one target, later values and later bases winning field by field', () => {
    const a = cmd('a', { title: 'one', description: 'd1' });
    a.cmd.base = entityState({ title: 'zero', description: 'd0' });
    // Computed after the reconciler saw a person set the title to 'person' on the target.
    const b = cmd('b', { title: 'two', priority: 'high' });
    b.cmd.base = entityState({ title: 'person', priority: 'low' });
    const [g, ...rest] = coalesce([a, b]);
    assert.equal(rest.length, 0);
    assert.equal(g?.cmd.commandId, 'b');
    assert.equal(g?.cmd.fields.title, 'two');
    assert.equal(g?.cmd.fields.description, 'd1');
    assert.equal(g?.cmd.fields.priority, 'high');
    assert.deepEqual(g?.cmd.fields.known, ['title', 'description', 'priority']);
    assert.equal(g?.cmd.base?.title, 'person');
    assert.equal(g?.cmd.base?.description, 'd0');
    assert.equal(g?.cmd.base?.priority, 'low');
    assert.deepEqual(new Set(g?.cmd.base?.known), new Set(['title', 'description', 'priority']));
  });

  it('keeps what the reconciler could not carry with the value that won the field', () => {
    const eve = { email: null, platformUserId: '712020:eve', displayName: 'Eve' };
    const u = { field: 'assignee', platform: 'jira', person: eve, reason: 'no email' };
    const unassign = cmd('a', { assignee: null }, { unresolved: [u] });
    const rename = cmd('b', { title: 'later' });
    assert.deepEqual(coalesce([unassign, rename])[0]?.cmd.unresolved, [u], 'a later title keeps it');
    const reassign = cmd('c', {
      assignee: { email: 'alice@example.com', platformUserId: null, displayName: null },
    });
    assert.deepEqual(coalesce([unassign, reassign])[0]?.cmd.unresolved, [], 'a later assignee supersedes it');
    assert.deepEqual(coalesce([reassign, unassign])[0]?.cmd.unresolved, [u]);
  });

  it('a write settling a conflict is not skipped as stale when folded after the write it overrides', () => {
    // Linear set urgent, the reconciler commanded Jira (base medium); a person set Jira to low
    // meanwhile; the policy kept urgent and commanded Jira again (base low). Jira holds low.
    const first = cmd('a', { priority: 'urgent' });
    first.cmd.base = entityState({ priority: 'medium' });
    const settling = cmd('b', { priority: 'urgent' });
    settling.cmd.base = entityState({ priority: 'low' });
    const [g] = coalesce([first, settling]);
    assert.ok(g);
    assert.deepEqual(staleFields(g.cmd, entityState({ priority: 'low' })), []);
    // A later edit of the target (not seen by the reconciler) still makes it stale.
    assert.deepEqual(
      staleFields(g.cmd, entityState({ priority: 'high' })).map((f) => f.field),
      ['priority'],
    );
  });

  it('a burst of edits folds onto the base of its first command (each later base is the earlier value)', () => {
    // Five quick edits: the reconciler commands the target once per edit, each command's base being
    // the previous command's value (what the target holds once that one has landed).
    const parts = ['one', 'two', 'three'].map((title, i, all) => {
      const p = cmd(`c${i}`, { title });
      p.cmd.base = entityState({ title: i === 0 ? 'zero' : all[i - 1] });
      return p;
    });
    const [g, ...rest] = coalesce(parts);
    assert.ok(g);
    assert.equal(rest.length, 0);
    assert.equal(g.cmd.fields.title, 'three');
    assert.equal(g.cmd.base?.title, 'zero');
    // Applied as one write on what the target held before the first: not stale.
    assert.deepEqual(staleFields(g.cmd, entityState({ title: 'zero' })), []);
    assert.deepEqual(
      staleFields(g.cmd, entityState({ title: 'a person' })).map((f) => f.field),
      ['title'],
    );
  });

  it('never folds creates or different targets', () => {
    const groups = coalesce([
      cmd('a', { title: 'x' }, { action: 'create', targetId: null }),
      cmd('b', { title: 'y' }, { action: 'create', targetId: null }),
      cmd('c', { title: 'z' }, { targetId: '1' }),
      cmd('d', { title: 'w' }, { targetId: '2' }),
    ]);
    assert.equal(groups.length, 4);
  });
});

describe('processCommands', () => {
  it('makes one API call for a burst of updates to one target and records every command id', async () => {
    const h = harness(ok);
    await processCommands(h.deps, [
      cmd('a', { title: '1' }),
      cmd('b', { title: '2' }),
      cmd('c', { title: '3' }),
    ]);
    assert.equal(h.calls.length, 1);
    assert.equal(h.calls[0]?.fields.title, '3');
    assert.deepEqual([...h.applied.keys()].sort(), ['a', 'b', 'c']);
    assert.deepEqual(h.outcomes[0]?.coalesced, ['a', 'b']);
  });

  it('applies a command id at most once, republishing its outcome as it was recorded', async () => {
    const h = harness(ok);
    await processCommands(h.deps, [cmd('a', { title: '1' })]);
    await processCommands(h.deps, [cmd('a', { title: '1' })]);
    assert.equal(h.calls.length, 1);
    assert.deepEqual(
      h.outcomes.map((o) => o.status),
      ['applied', 'applied'],
    );
  });

  it('a replayed command whose recorded outcome is a failure is retried, not republished as success', async () => {
    let broken = true;
    const h = harness((c) => {
      if (broken) throw new Invalid('400 field not allowed');
      return ok(c);
    });
    await processCommands(h.deps, [cmd('a', { title: '1' })]);
    assert.deepEqual(h.dead, ['a:validation']);
    assert.equal(h.applied.get('a')?.status, 'failed');
    // The cause is fixed and the command replayed (a DLQ retry, an offset reset).
    broken = false;
    await processCommands(h.deps, [cmd('a', { title: '1' })]);
    assert.equal(h.calls.length, 2, 'the failed command was tried again');
    assert.deepEqual(
      h.outcomes.map((o) => o.status),
      ['failed', 'applied'],
    );
    assert.equal(h.applied.get('a')?.status, 'applied');
    // Once applied, a further replay republishes the success and calls nothing.
    await processCommands(h.deps, [cmd('a', { title: '1' })]);
    assert.equal(h.calls.length, 2);
    assert.equal(h.outcomes.at(-1)?.status, 'applied');
  });

  it('stops between commands once the consumer stops, reporting only what it finished', async () => {
    const h = harness(ok);
    let stop = false;
    h.deps.stopping = () => stop;
    const parts = [cmd('a', { title: '1' }, { targetId: '1' }), cmd('b', { title: '2' }, { targetId: '2' })];
    const real = h.deps.applier.apply;
    h.deps.applier.apply = async (c) => {
      stop = true; // the partition is revoked while the first write is in flight
      return real(c);
    };
    const finished = await processCommands(h.deps, parts);
    assert.deepEqual(
      finished.map((p) => p.cmd.commandId),
      ['a'],
    );
    assert.equal(h.calls.length, 1, 'the second command was left for the next owner of the partition');
  });

  it('waits out Retry-After, then succeeds', async () => {
    const h = harness((c, n) => {
      if (n === 1) throw new RateLimited('429');
      return ok(c);
    });
    await processCommands(h.deps, [cmd('a', { title: '1' })]);
    assert.equal(h.calls.length, 2);
    assert.ok(h.time() >= 2000, `retried after ${h.time()} ms`);
    assert.equal(h.outcomes[0]?.status, 'applied');
  });

  it('dead-letters a permanent failure at once with its category, and goes on with the next command', async () => {
    const h = harness((c) => {
      if (c.commandId === 'bad') throw new Invalid('400 field not allowed');
      return ok(c);
    });
    await processCommands(h.deps, [
      cmd('bad', { title: 'x' }, { targetId: '1' }),
      cmd('good', { title: 'y' }, { targetId: '2' }),
    ]);
    assert.equal(h.calls.length, 2);
    assert.deepEqual(h.dead, ['bad:validation']);
    assert.deepEqual(
      h.outcomes.map((o) => o.status),
      ['failed', 'applied'],
    );
  });

  it('tries a dead-lettered command again when it comes back (dlq retry), then applies it once', async () => {
    let broken = true;
    const h = harness((c) => {
      if (broken) throw new Invalid('400 field required');
      return ok(c);
    });
    await processCommands(h.deps, [cmd('a', { title: '1' })]);
    broken = false;
    await processCommands(h.deps, [cmd('a', { title: '1' })]);
    await processCommands(h.deps, [cmd('a', { title: '1' })]);
    assert.equal(h.calls.length, 2, 'one failed call, one successful one, nothing for the third delivery');
    assert.deepEqual(
      h.outcomes.map((o) => o.status),
      // The third delivery republishes the recorded outcome with the status it was recorded with.
      ['failed', 'applied', 'applied'],
    );
  });

  it('holds a command while the credentials are refused (no dead letter, however long), then applies it once', async () => {
    let refusedFor = 25; // many more refusals than retry.maxAttempts (4)
    const h = harness((c) => {
      if (refusedFor-- > 0) throw new Refused('401 Unauthorized');
      return ok(c);
    });
    const gauge = new Gauge({ name: 'r', help: 'r', labelNames: ['platform'], registers: [] });
    h.deps.metrics.credentialsRefused = gauge;
    const seen: number[] = [];
    const sleep = h.deps.sleep;
    h.deps.sleep = async (ms) => {
      seen.push((await gauge.get()).values[0]?.value ?? -1);
      await sleep(ms);
    };
    await processCommands(h.deps, [cmd('a', { title: '1' }), cmd('b', { title: '2' }, { targetId: '2' })]);
    assert.deepEqual(h.dead, [], 'a refused credential is not a bad command');
    assert.equal(h.calls.length, 27, '25 refused tries of a, then a and b once each');
    assert.deepEqual(
      h.outcomes.map((o) => [o.commandId, o.status]),
      [
        ['a', 'applied'],
        ['b', 'applied'],
      ],
    );
    assert.ok(seen.includes(1), 'the gauge said so while the command was held');
    assert.equal((await gauge.get()).values[0]?.value, 0, 'and is 0 again once the platform accepts');
    assert.ok(h.time() >= 25 * 500, `at least 0.5 s between tries (${h.time()} ms of waiting)`);
  });

  it('bounds retries of retriable failures, then dead-letters', async () => {
    const h = harness(() => {
      throw new Error('socket hang up');
    });
    await processCommands(h.deps, [cmd('a', { title: '1' })]);
    assert.equal(h.calls.length, 4);
    assert.deepEqual(h.dead, ['a:network']);
  });
});

/** A pg driver error as a dropped connection gives it (no SQLSTATE). */
const connectionLost = () =>
  Object.assign(new Error('Connection terminated unexpectedly'), { code: undefined });

describe('processCommands against the Jira emulator: what fails after the write is not the write', () => {
  let emu: RunningEmulator;
  before(async () => {
    emu = await startJiraEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
  });
  after(() => emu.close());

  const jira = () =>
    createJiraApplier({
      config: jiraConfigSchema.parse({
        host: emu.url,
        email: 'lockstep-bot@example.com',
        apiToken: DEMO_BOT_TOKEN,
        webhookSecret: 'unused-here',
        projects: ['ENG'],
      }),
      botUserId: null,
    });
  const create = (id: string) =>
    cmd(
      id,
      { title: `created by ${id}`, status: { category: 'in_progress', name: 'In Progress' } },
      { action: 'create', targetId: null, marker: `marker-${id}` },
    );
  /** The requests made since `seq`, by route (issue ids elided, so two passes compare). */
  const routes = (seq: number) =>
    emu.ledger
      .list(seq)
      .map((e) => routeName({ ...e, path: e.path.replace(/\/issue\/\d+/g, '/issue/{id}') }));
  const seqNow = () => emu.ledger.list().at(-1)?.seq ?? 0;
  const creates = (seq: number) =>
    routes(seq).filter((r) => r === 'POST /rest/api/3/issue createIssue').length;

  /** One clean create, for the number of requests it costs. */
  async function cleanPass(): Promise<string[]> {
    const h = harness(ok, jira());
    const from = seqNow();
    await processCommands(h.deps, [create(`clean-${Math.random()}`)]);
    assert.equal(h.outcomes[0]?.status, 'applied');
    return routes(from);
  }

  for (const [what, breakIt] of [
    [
      'recording the outcome in Postgres',
      (h: ReturnType<typeof harness>) => {
        const record = h.deps.applied.record;
        let first = true;
        h.deps.applied.record = async (ids, o) => {
          if (first) {
            first = false;
            throw connectionLost();
          }
          return record(ids, o);
        };
      },
    ],
    [
      'publishing the outcome to Kafka',
      (h: ReturnType<typeof harness>) => {
        const publish = h.deps.publishOutcome;
        let first = true;
        h.deps.publishOutcome = async (o) => {
          if (first) {
            first = false;
            throw Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), {
              name: 'KafkaJSConnectionError',
            });
          }
          return publish(o);
        };
      },
    ],
  ] as const) {
    it(`a failure ${what} after the create is retried alone: one create, no breaker count, outcome applied`, async () => {
      const clean = await cleanPass();
      const h = harness(ok, jira());
      h.deps.breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 10_000, now: h.time });
      breakIt(h);
      const from = seqNow();
      await processCommands(h.deps, [create(`infra-${what.length}`)]);
      assert.equal(creates(from), 1, `exactly one create call: ${routes(from).join(', ')}`);
      // From the create on: the lost-create lookup before it reads however many recent issues the
      // lagging search has not indexed yet, which differs between two passes.
      const fromCreate = (r: string[]) => r.slice(r.indexOf('POST /rest/api/3/issue createIssue'));
      assert.deepEqual(
        fromCreate(routes(from)),
        fromCreate(clean),
        'the same requests as a clean pass: the platform was not called again',
      );
      assert.equal(h.calls.length, 1, 'the applier ran once');
      assert.equal(h.deps.breaker.current(), 'closed', 'an infrastructure error did not count against Jira');
      assert.deepEqual(
        h.outcomes.map((o) => o.status),
        ['applied'],
      );
      assert.equal(h.applied.get(`infra-${what.length}`)?.status, 'applied');
      assert.deepEqual(h.dead, []);
    });
  }

  for (const [step, match] of [
    // By numeric id (the emulator's ids start at 10000): the lost-create lookup before the create
    // reads candidates by key (ENG-n) and must not be hit by the fault.
    ['the transition', { method: 'POST', pathPrefix: '/rest/api/3/issue/1' }],
    ['the read-back', { method: 'GET', pathPrefix: '/rest/api/3/issue/1' }],
  ] as const) {
    it(`a create whose ${step} fails reports success with the field skipped, and is not repeated`, async () => {
      const h = harness(ok, jira());
      h.deps.breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 10_000, now: h.time });
      let result: ApplyResult | undefined;
      const real = jira();
      h.deps.applier = {
        findByMarker: real.findByMarker,
        apply: async (c) => {
          h.calls.push(c);
          // Armed once the create call has been made: every later matching call fails.
          const r = real.apply(c);
          result = await r;
          return result;
        },
      };
      const from = seqNow();
      // The create itself is POST /rest/api/3/issue (no trailing slash): only the follow-ups match.
      emu.faults.add({ kind: 'server_error', status: 503, forMs: 60_000, match });
      try {
        await processCommands(h.deps, [create(`follow-${step.length}`)]);
      } finally {
        emu.faults.clear();
      }
      assert.equal(creates(from), 1, `exactly one create call: ${routes(from).join(', ')}`);
      assert.equal(h.calls.length, 1, 'the command was not retried');
      assert.deepEqual(
        h.outcomes.map((o) => o.status),
        ['applied'],
      );
      assert.match(h.outcomes[0]?.targetKey ?? '', /^ENG-\d+$/);
      assert.ok(
        result?.skipped.some((s) => s.reason === 'follow_up_failed'),
        `skipped lists the follow-up: ${JSON.stringify(result?.skipped)}`,
      );
      assert.equal(h.deps.breaker.current(), 'closed');
      assert.deepEqual(h.dead, []);
    });
  }
});

describe('visible notes', () => {
  const frank = { email: 'frank@example.com', platformUserId: null, displayName: null };
  const unresolved = (c: WriteCommand): ApplyResult => ({
    ...ok(c),
    skipped: [{ field: 'assignee', reason: 'unresolvable', detail: 'no Jira user with that email' }],
  });

  function withNotes(enabled: boolean) {
    const h = harness(unresolved);
    const recorded: PendingNote[][] = [];
    const record = h.deps.applied.record;
    h.deps.applied.record = async (ids, o, audit, notes) => {
      recorded.push(notes ?? []);
      await record(ids, o, audit, notes);
    };
    h.deps.notes = {
      enabled: (flowId) => enabled && flowId === 'eng',
      platformName: 'Jira',
      nameOf: () => null,
    };
    return { ...h, recorded };
  }

  it('a write that cannot carry a field records its note with the outcome; the write is applied', async () => {
    const h = withNotes(true);
    await processCommands(h.deps, [cmd('n1', { assignee: frank, title: 'T' })]);
    assert.equal(h.outcomes[0]?.status, 'applied');
    assert.deepEqual(
      h.recorded.map((ns) => ns.map((n) => [n.field, n.targetId, n.commandId])),
      [[['assignee', '10001', 'n1']]],
    );
  });

  it('none when the flow says notes: none, or when every field was carried', async () => {
    const off = withNotes(false);
    await processCommands(off.deps, [cmd('n2', { assignee: frank })]);
    assert.deepEqual(off.recorded, [[]]);
    const carried = withNotes(true);
    carried.deps.applier.apply = async (c) => ok(c);
    await processCommands(carried.deps, [cmd('n3', { assignee: frank })]);
    assert.deepEqual(carried.recorded, [[]]);
  });
});
