/**
 * `lockstep rollback` end to end: a person's edits go through the real pipeline, then the real CLI
 * puts back what the platforms held before Lockstep's own writes since a time. A field a person
 * changed after Lockstep's write is left as they set it and reported; the dry run predicts the
 * writes and makes none; the rollback's writes are audited (cause `rollback`) and the sync stays
 * quiet afterwards; a rollback is itself rolled back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '../../schemas/generated/types.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import {
  botCalls,
  type CliRun,
  jiraIssue,
  jiraIssues,
  lastSeq,
  linearIds,
  linearIssues,
  lockstep,
  writes,
} from './helpers.ts';

function cli(e: E2E, args: string[]): Promise<CliRun> {
  return lockstep(e, args);
}

interface Line {
  kind: 'field' | 'not_undone' | 'summary';
  target?: string;
  field?: string;
  result?: string;
  reason?: string | null;
  commanded?: number;
  left?: number;
}

async function rollback(e: E2E, args: string[]): Promise<Line[]> {
  const r = await cli(e, ['rollback', ...args, '--json', '--by', 'e2e']);
  assert.equal(r.code, 0, `lockstep rollback ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);
}

const fieldLines = (lines: Line[]) =>
  lines
    .filter((l) => l.kind === 'field')
    .map((l) => `${l.target} ${l.field} ${l.result}${l.reason ? ` ${l.reason.split(':')[0]}` : ''}`)
    .sort();

async function outboxRows(e: E2E): Promise<number> {
  const r = await e.db.query<{ n: string }>('select count(*) as n from reconciler_outbox');
  return Number(r.rows[0]!.n);
}

describe('lockstep rollback (end to end)', { timeout: 900_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E();
  });
  after(async () => {
    await e?.stop();
  });

  it("puts back the before-values of Lockstep's writes, leaves a person's later edit, and can be rolled back itself", async () => {
    const bob = e.linearAs('bob');
    const jira = e.jiraAs('carol');
    const ids = await linearIds(bob);
    await bob.createIssue({ teamId: ids.teamId, title: 'Rollback: search slow', priority: 3 });
    const created = await eventually('the issue in Jira', async () =>
      (await jiraIssues(jira)).find((i) => i.fields.summary === 'Rollback: search slow'),
    );
    const key = created.key;
    await settled(e);
    const lin = (await linearIssues(bob)).find((i) => i.title === 'Rollback: search slow');
    assert.ok(lin);
    const linKey = lin.identifier;

    // The window starts here (the create before it is not rolled back).
    const t0 = new Date().toISOString();
    // Bob retitles and raises the priority in Linear: Lockstep writes both to Jira.
    await bob.updateIssue(lin.id, { title: 'Rollback: search slow on Firefox', priority: 2 });
    await eventually('the new title and priority in Jira', async () => {
      const i = await jiraIssue(jira, key);
      return i.fields.summary === 'Rollback: search slow on Firefox' && i.fields.priority?.name === 'High';
    });
    await settled(e);
    // Then Carol retitles it in Jira, after Lockstep's write: Lockstep writes her title to Linear.
    await jira.issues.editIssue({ issueIdOrKey: key, fields: { summary: 'Rollback: search 500s' } });
    await eventually(
      "Carol's title in Linear",
      async () => (await linearIssues(bob)).find((i) => i.id === lin.id)?.title === 'Rollback: search 500s',
    );
    await settled(e);

    const expected = [
      `jira:${key} priority COMMANDED`,
      `jira:${key} title left changed`,
      `linear:${linKey} title COMMANDED`,
    ];
    // The dry run: the same decisions, nothing written.
    const seqJira = lastSeq(e, 'jira');
    const seqLinear = lastSeq(e, 'linear');
    const outboxBefore = await outboxRows(e);
    const dry = await rollback(e, ['--since', t0, '--dry-run']);
    assert.deepEqual(fieldLines(dry), expected.map((l) => l.replace('COMMANDED', 'would_command')).sort());
    assert.equal(await outboxRows(e), outboxBefore, 'a dry run queues no command');
    await settled(e);
    assert.deepEqual(writes(botCalls(e, 'jira', seqJira), 'jira'), [], 'a dry run writes nothing to Jira');
    assert.deepEqual(writes(botCalls(e, 'linear', seqLinear), 'linear'), [], 'nor to Linear');

    // The rollback itself.
    const t1 = new Date().toISOString();
    const done = await rollback(e, ['--since', t0]);
    assert.deepEqual(fieldLines(done), expected.map((l) => l.replace('COMMANDED', 'commanded')).sort());
    assert.deepEqual(
      done.filter((l) => l.kind === 'summary').map((l) => [l.commanded, l.left]),
      [[2, 1]],
    );
    await eventually('Jira priority back to Medium and Linear title back to Bob’s', async () => {
      const j = await jiraIssue(jira, key);
      const l = (await linearIssues(bob)).find((i) => i.id === lin.id);
      return j.fields.priority?.name === 'Medium' && l?.title === 'Rollback: search slow on Firefox';
    });
    await settled(e);
    // Carol's title stays in Jira, Bob's priority in Linear: the other sides are not written.
    assert.equal((await jiraIssue(jira, key)).fields.summary, 'Rollback: search 500s');
    assert.equal((await linearIssues(bob)).find((i) => i.id === lin.id)?.priority, 2);
    assert.equal(writes(botCalls(e, 'jira', seqJira), 'jira').length, 1, 'one write to Jira');
    assert.equal(writes(botCalls(e, 'linear', seqLinear), 'linear').length, 1, 'one write to Linear');
    // Quiet afterwards: the rollback's echoes and outcomes start no further write.
    const quietJira = lastSeq(e, 'jira');
    const quietLinear = lastSeq(e, 'linear');
    await settled(e);
    assert.deepEqual(writes(botCalls(e, 'jira', quietJira), 'jira'), []);
    assert.deepEqual(writes(botCalls(e, 'linear', quietLinear), 'linear'), []);

    // Audited, with the rollback as the cause.
    const audit = await cli(e, ['audit', '--item', `jira:${key}`, '--since', t1, '--json']);
    assert.equal(audit.code, 0, audit.stderr);
    const recs = audit.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as AuditRecord);
    const prio = recs.find((r) => r.field === 'priority' && r.result === 'written');
    assert.ok(prio, audit.stdout);
    assert.equal(prio.cause?.kind, 'rollback');
    assert.equal(prio.cause?.actor?.displayName, 'rollback by e2e');
    assert.equal(prio.beforeJson, '"high"');
    assert.equal(prio.afterJson, '"medium"');

    // Running it again finds nothing more to do.
    const again = await rollback(e, ['--since', t0]);
    assert.equal(again.filter((l) => l.result === 'commanded').length, 0, JSON.stringify(again));

    // The rollback rolled back: Jira's priority High again, Linear's title Carol's again.
    const undo = await rollback(e, ['--since', t1]);
    assert.deepEqual(fieldLines(undo), [
      `jira:${key} priority commanded`,
      `linear:${linKey} title commanded`,
    ]);
    await eventually('the rollback undone on both sides', async () => {
      const j = await jiraIssue(jira, key);
      const l = (await linearIssues(bob)).find((i) => i.id === lin.id);
      return j.fields.priority?.name === 'High' && l?.title === 'Rollback: search 500s';
    });
    await settled(e);

    // Bad arguments get one clear message.
    const noSince = await cli(e, ['rollback']);
    assert.equal(noSince.code, 1);
    assert.match(noSince.stderr, /--since/);
    const badFlow = await cli(e, ['rollback', '--since', '1h', '--flow', 'nope']);
    assert.equal(badFlow.code, 1);
    assert.match(badFlow.stderr, /--flow nope: no such flow/);
  });
});
