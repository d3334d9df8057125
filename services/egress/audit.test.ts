import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import pino from 'pino';
import type { ApplyResult } from '../connectors/types.ts';
import { entityState } from '../connectors/types.ts';
import { CircuitBreaker, RateBudget } from '../core/resilience/index.ts';
import type { AuditRecord, Cause, WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import { auditFilter } from '../cli/commands/audit.ts';
import {
  auditId,
  auditRecords,
  describeCause,
  formatAuditRecord,
  parseItem,
  parseSince,
  WHOLE_ITEM,
} from './audit.ts';
import { processCommands, type CommandMeta, type EgressDeps } from './egress.ts';

const alice: Cause = {
  kind: 'event',
  ref: 'ev-1',
  platform: 'linear',
  workspace: 'ENG',
  entityId: 'lin-uuid',
  entityKey: 'ENG-7',
  actor: { email: 'alice@example.com', platformUserId: 'u-alice', displayName: 'Alice' },
  actorIsLockstep: false,
  via: 'webhook',
  changedAtMs: Date.UTC(2026, 11, 2, 9, 30),
};

function command(id: string, fields: Parameters<typeof entityState>[0], over: Partial<WriteCommand> = {}) {
  return {
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
    causedBy: alice.ref,
    unresolved: [],
    cause: alice,
    createdAtMs: 1,
    ...over,
  } satisfies WriteCommand;
}

function applied(over: Partial<ApplyResult> = {}): ApplyResult {
  return {
    targetId: '10001',
    targetKey: 'ENG-3',
    written: null,
    platformVersion: 'v2',
    platformTsMs: 2,
    alreadyApplied: false,
    skipped: [],
    ...over,
  };
}

const at = Date.UTC(2026, 11, 2, 9, 31);

describe('auditRecords', () => {
  it('an update: one record per field, before from the applier’s read, after from the platform', () => {
    const cmd = command('c1', { title: 'New', priority: 'high' });
    const recs = auditRecords({
      cmd,
      parts: [cmd],
      result: applied({
        before: entityState({ title: 'Old', priority: 'low', labels: ['x'] }),
        written: entityState({ title: 'New', priority: 'high', labels: ['x'] }),
      }),
      traceId: 'a'.repeat(32),
      nowMs: at,
    });
    assert.deepEqual(
      recs.map((r) => [r.field, r.result, r.beforeJson, r.afterJson]),
      [
        ['title', 'written', '"Old"', '"New"'],
        ['priority', 'written', '"low"', '"high"'],
      ],
    );
    const r = recs[0]!;
    assert.equal(r.auditId, auditId('c1', 'title'));
    assert.notEqual(recs[1]!.auditId, r.auditId);
    assert.equal(r.commandId, 'c1');
    assert.equal(r.linkId, 'L1');
    assert.equal(r.platform, 'jira');
    assert.equal(r.targetKey, 'ENG-3');
    assert.equal(r.traceId, 'a'.repeat(32));
    assert.equal(r.tsMs, at);
    assert.deepEqual(r.cause, alice);
    assert.deepEqual(r.coalesced, []);
  });

  it('a create has no before; a create found by its marker says so', () => {
    const cmd = command('c2', { title: 'T' }, { action: 'create', targetId: null, marker: 'L1' });
    const fresh = auditRecords({ cmd, parts: [cmd], result: applied(), traceId: null, nowMs: at });
    assert.deepEqual(
      fresh.map((r) => [r.field, r.result, r.beforeJson, r.afterJson, r.detail]),
      [['title', 'written', null, '"T"', null]],
    );
    const found = auditRecords({
      cmd,
      parts: [cmd],
      result: applied({ alreadyApplied: true }),
      traceId: null,
      nowMs: at,
    });
    assert.match(found[0]?.detail ?? '', /create marker/);
  });

  it('a delete is one record for the whole item', () => {
    const cmd = command('c3', {}, { action: 'delete' });
    const recs = auditRecords({ cmd, parts: [cmd], result: applied(), traceId: null, nowMs: at });
    assert.deepEqual(
      recs.map((r) => [r.field, r.result]),
      [[WHOLE_ITEM, 'deleted']],
    );
  });

  it('fields not carried are recorded with the reason: no counterpart, a person’s newer edit, a failed follow-up', () => {
    const cmd = command('c4', {
      assignee: { email: 'nobody@example.com', platformUserId: null, displayName: 'Nobody' },
      status: { category: 'done', name: 'Done' },
      title: 'Mine',
    });
    const recs = auditRecords({
      cmd,
      parts: [cmd],
      result: applied({
        before: entityState({ assignee: null, status: { category: 'todo', name: 'To Do' }, title: 'Theirs' }),
        written: entityState({
          assignee: null,
          status: { category: 'todo', name: 'To Do' },
          title: 'Theirs',
        }),
        skipped: [
          { field: 'assignee', reason: 'unresolvable', detail: 'no user with email nobody@example.com' },
          { field: 'status', reason: 'unresolvable', detail: 'no transition to a done status' },
          { field: 'title', reason: 'stale_base', detail: 'current value "Theirs" differs from the base' },
          { field: 'attachment', reason: 'follow_up_failed', detail: 'attaching the marker: 500' },
        ],
      }),
      traceId: null,
      nowMs: at,
    });
    assert.deepEqual(
      recs.map((r) => [r.field, r.result, r.beforeJson]),
      [
        ['title', 'stale_base', '"Theirs"'],
        ['status', 'unresolvable', '{"category":"todo","name":"To Do"}'],
        ['assignee', 'unresolvable', 'null'],
        ['attachment', 'follow_up_failed', null],
      ],
    );
    assert.equal(recs[2]?.afterJson, JSON.stringify(cmd.fields.assignee));
    assert.match(recs[2]?.detail ?? '', /nobody@example\.com/);
  });

  it('a field the platform already held (a repeat after a crash) is already_held, not written', () => {
    const cmd = command('c5', { title: 'Same' });
    const recs = auditRecords({
      cmd,
      parts: [cmd],
      result: applied({
        before: entityState({ title: 'Same' }),
        written: entityState({ title: 'Same' }),
        alreadyApplied: true,
      }),
      traceId: null,
      nowMs: at,
    });
    assert.deepEqual(
      recs.map((r) => r.result),
      ['already_held'],
    );
  });

  it('a coalesced write credits each field to the last command that set it, and names the others', () => {
    const a = command('a', { title: 'one', description: 'd' });
    const bob: Cause = { ...alice, ref: 'ev-2', actor: { ...alice.actor!, email: 'bob@example.com' } };
    const b = command('b', { title: 'two' }, { cause: bob, causedBy: 'ev-2' });
    const merged = command('b', { title: 'two', description: 'd' }, { cause: bob });
    const recs = auditRecords({
      cmd: merged,
      parts: [a, b],
      result: applied({ before: entityState({ title: 'zero', description: 'old' }) }),
      traceId: null,
      nowMs: at,
    });
    const title = recs.find((r) => r.field === 'title')!;
    const desc = recs.find((r) => r.field === 'description')!;
    assert.equal(title.commandId, 'b');
    assert.equal(title.cause?.actor?.email, 'bob@example.com');
    assert.deepEqual(title.coalesced, ['a']);
    assert.equal(desc.commandId, 'a');
    assert.equal(desc.cause?.actor?.email, 'alice@example.com');
    assert.deepEqual(desc.coalesced, ['b']);
  });
});

describe('formatting', () => {
  const rec: AuditRecord = {
    auditId: 'x',
    tsMs: at,
    commandId: 'c1',
    coalesced: [],
    linkId: 'L1',
    flowId: 'eng',
    platform: 'jira',
    workspace: 'ENG',
    entityType: 'issue',
    action: 'update',
    targetId: '10001',
    targetKey: 'ENG-3',
    field: 'status',
    result: 'written',
    beforeJson: '{"category":"todo","name":"To Do"}',
    afterJson: '{"category":"done","name":"Done"}',
    detail: null,
    cause: alice,
    traceId: 'f'.repeat(32),
  };

  it('one record in three lines: what changed, because of whom, and the ids', () => {
    assert.equal(
      formatAuditRecord(rec),
      [
        '2026-12-02T09:31:00.000Z  jira:ENG-3  update status: To Do (todo) → Done (done)',
        '    because alice@example.com changed linear ENG-7 at 2026-12-02T09:30:00.000Z (event ev-1, via webhook)',
        `    command c1  link L1  trace ${'f'.repeat(32)}`,
      ].join('\n'),
    );
  });

  it('a field not carried says why and what the platform holds', () => {
    const line = formatAuditRecord({
      ...rec,
      field: 'assignee',
      result: 'unresolvable',
      beforeJson: 'null',
      afterJson: '{"email":"nobody@example.com","platformUserId":null,"displayName":"Nobody"}',
      detail: 'no user with that email',
    });
    assert.match(
      line,
      /update assignee: unresolvable: not written nobody@example\.com \(holds null\) — no user with that email/,
    );
    // A create has nothing before it: no "holds".
    assert.match(
      formatAuditRecord({
        ...rec,
        action: 'create',
        result: 'unresolvable',
        beforeJson: null,
        detail: 'no transition',
      }),
      /create status: unresolvable: not written Done \(done\) — no transition$/m,
    );
  });

  it('a note on the item: posted (with its comment) or failed', () => {
    const note = {
      ...rec,
      action: 'note',
      field: 'assignee',
      beforeJson: null,
      afterJson: '{"email":"frank@example.com","platformUserId":null,"displayName":null}',
    };
    assert.match(
      formatAuditRecord({ ...note, result: 'noted', detail: 'Lockstep commented on the item (comment c-9)' }),
      /jira:ENG-3 {2}note assignee: noted on the item: could not carry frank@example\.com — Lockstep commented on the item \(comment c-9\)$/m,
    );
    assert.match(
      formatAuditRecord({ ...note, result: 'note_failed', detail: 'posting the note failed: 403' }),
      /note assignee: note failed: could not carry frank@example\.com — posting the note failed: 403$/m,
    );
  });

  it('other causes: a resolve, the outcome of an earlier write, none recorded', () => {
    assert.equal(
      describeCause({
        ...rec,
        cause: {
          ...alice,
          kind: 'resolve',
          ref: 'k1',
          actor: { email: null, platformUserId: null, displayName: 'ops' },
        },
      }),
      'ops resolved conflict k1 at 2026-12-02T09:30:00.000Z',
    );
    assert.match(
      describeCause({ ...rec, cause: { ...alice, kind: 'outcome', ref: 'c0', actor: null } }),
      /^the outcome of Lockstep's write c0 to linear ENG-7/,
    );
    assert.equal(describeCause({ ...rec, cause: null }), 'cause not recorded');
  });
});

describe('filters', () => {
  it('--item is <platform>:<key or id>', () => {
    assert.deepEqual(parseItem('jira:ENG-12'), { platform: 'jira', ref: 'ENG-12' });
    assert.deepEqual(parseItem('linear:0f2c:abc'), { platform: 'linear', ref: '0f2c:abc' });
    for (const bad of ['ENG-12', ':ENG-1', 'jira:'])
      assert.throws(() => parseItem(bad), /--item must be <platform>:<key or id>/);
  });

  it('--since is a duration ago or a date/time', () => {
    const now = Date.UTC(2026, 11, 2, 12);
    assert.equal(parseSince('30m', now), now - 30 * 60_000);
    assert.equal(parseSince('2h', now), now - 2 * 3_600_000);
    assert.equal(parseSince('7d', now), now - 7 * 86_400_000);
    assert.equal(parseSince('2026-12-01T00:00:00Z', now), Date.UTC(2026, 11, 1));
    assert.throws(() => parseSince('yesterday', now), /--since must be a duration/);
  });

  it('the CLI builds one filter and refuses bad arguments with a clear message', () => {
    const now = Date.UTC(2026, 11, 2, 12);
    assert.deepEqual(auditFilter({ item: 'jira:ENG-3', link: 'L1', since: '1h', limit: '5' }, now), {
      item: { platform: 'jira', ref: 'ENG-3' },
      linkId: 'L1',
      sinceMs: now - 3_600_000,
      limit: 5,
    });
    assert.deepEqual(auditFilter({}, now), {});
    assert.throws(() => auditFilter({ limit: '0' }, now), /--limit must be a positive integer/);
    assert.throws(() => auditFilter({ link: ' ' }, now), /--link must be a link id/);
  });
});

describe('egress hands the audit records to the store with the outcome, once', () => {
  it('an applied command records its audit with the outcome; its redelivery records nothing', async () => {
    const registry = new Registry();
    const recorded: { ids: string[]; outcome: WriteOutcome; audit: AuditRecord[] }[] = [];
    const store = new Map<string, WriteOutcome>();
    let t = 1000;
    const counter = (name: string, labelNames: string[]) =>
      new Counter({ name, help: name, labelNames, registers: [registry] });
    const deps: EgressDeps = {
      platform: 'jira',
      applier: {
        apply: async (c) =>
          applied({ before: entityState({ title: 'Old' }), written: entityState({ title: c.fields.title }) }),
        findByMarker: async () => null,
      },
      classify: () => ({ category: 'network', retriable: true }),
      budget: new RateBudget({ limit: 100, perMs: 1000, now: () => t, sleep: async (ms) => void (t += ms) }),
      breaker: new CircuitBreaker({ failureThreshold: 5, openMs: 10_000, now: () => t }),
      applied: {
        get: async (id) => store.get(id) ?? null,
        record: async (ids, outcome, audit = []) => {
          recorded.push({ ids, outcome, audit });
          for (const id of ids) store.set(id, outcome);
        },
      },
      publishOutcome: async () => {},
      deadLetter: async () => {},
      retry: { maxAttempts: 2, baseMs: 1, maxMs: 2 },
      heartbeat: async () => {},
      stopping: () => false,
      sleep: async (ms) => void (t += ms),
      now: () => t,
      logger: pino({ level: 'silent' }),
      metrics: {
        commands: counter('c', ['platform', 'result']),
        apiCalls: counter('a', ['platform', 'result']),
        applySeconds: new Histogram({
          name: 'h',
          help: 'h',
          labelNames: ['platform'],
          registers: [registry],
        }),
        infraRetries: counter('i', ['platform', 'step']),
      },
    };
    const meta: CommandMeta = { topic: 'cmds', partition: 0, offset: '0', key: 'k', raw: null, headers: {} };
    const part = { cmd: command('c9', { title: 'New' }), meta };
    await processCommands(deps, [part]);
    await processCommands(deps, [part]);
    assert.equal(recorded.length, 1);
    assert.deepEqual(recorded[0]?.ids, ['c9']);
    assert.deepEqual(
      recorded[0]?.audit.map((r) => [r.commandId, r.field, r.beforeJson, r.afterJson, r.cause?.ref]),
      [['c9', 'title', '"Old"', '"New"', 'ev-1']],
    );
  });
});
