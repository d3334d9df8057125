/**
 * `lockstep backfill` killed halfway and run again (issue 10's acceptance: "a backfill killed
 * halfway and restarted ends the same with no duplicate"). Items that mirror each other by title
 * (a few differing in priority) and a few on one side only are seeded behind Lockstep's back. A dry
 * run predicts the writes; then a real run is stopped in the middle of pairing and killed with
 * SIGKILL (a crash; Ctrl-C ends the process the same way, with no handler of its own).
 *
 * Halfway is made deterministic with real Postgres, not a timer: a trigger on `reconciler_links`
 * makes the insert of link K+1 wait on an advisory lock this test holds, so the killed run has
 * committed exactly K pairs, whatever the machine's speed. The second run skips the K linked
 * pairs, pairs the rest, creates the unmatched items, and the end state is the one a single run
 * gives: one item per title per side, exactly the predicted writes (none twice), one create per
 * unmatched item, and the flow recorded as backfilled only by the run that completed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BackfillReport } from '../../services/cli/commands/backfill.ts';
import { queryAudit } from '../../services/egress/audit.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import {
  backfillWriteSet,
  botCalls,
  jiraIssues,
  lastSeq,
  linearIssues,
  lockstep,
  writes,
} from './helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');
/** Pairs by title; the killed run commits exactly HALF of them. */
const PAIRS = 40;
const HALF = 20;
/** An advisory lock key of this test's own (Lockstep takes none in this range). */
const GATE = 7_340_021;

async function backfill(e: E2E, args: string[]): Promise<BackfillReport> {
  const r = await lockstep(e, ['backfill', '--flow', 'eng', ...args, '--json'], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, `lockstep backfill ${args.join(' ')} exited ${r.code}: ${r.stdout} ${r.stderr}`);
  return JSON.parse(r.stdout) as BackfillReport;
}

describe('lockstep backfill killed halfway and run again (end to end)', { timeout: 900_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E();
  });
  /** The gate holder's backend, while it holds the gate. */
  let holderPid: number | null = null;
  after(async () => {
    // After a failure the gate may still be held, with the backfill's backend waiting on it: end
    // both sessions (their transactions go with them) before dropping the trigger, or the drop and
    // the world's stop would wait on them for ever.
    if (e && holderPid !== null)
      await e.db
        .query(
          `select pg_terminate_backend(pid) from pg_stat_activity
            where pid = $1 or application_name = 'lockstep-cli-backfill'`,
          [holderPid],
        )
        .catch(() => undefined);
    await e?.db
      .query(`set lock_timeout = '30s'; drop trigger if exists e2e_backfill_gate on reconciler_links`)
      .catch(() => undefined);
    await e?.stop();
  });

  it('ends as one run would: no duplicate item, no write twice, the rest paired by the second run', async () => {
    const titles = Array.from({ length: PAIRS }, (_, i) => `BR title ${String(i).padStart(2, '0')}`);
    const differs = new Set(titles.filter((_, i) => i % 10 === 3));
    const linearOnly = ['BR only linear 0', 'BR only linear 1'];
    const jiraOnly = ['BR only jira 0', 'BR only jira 1'];
    await e.jiraControl.seed({
      issues: [...titles, ...jiraOnly].map((summary) => ({
        project: 'ENG',
        summary,
        status: 'To Do',
        priority: 'Medium',
      })),
    });
    await e.linearControl.seed({
      issues: [...titles, ...linearOnly].map((title) => ({
        teamKey: 'ENG',
        state: 'Todo',
        title,
        priority: differs.has(title) ? 2 : 3,
      })),
    });
    const jira = e.jiraAs('carol');
    const lin = e.linearAs('bob');
    await eventually('the seeded Jira issues in search', async () =>
      (await jiraIssues(jira)).length === PAIRS + jiraOnly.length ? true : undefined,
    );
    await settled(e);
    const seqL = lastSeq(e, 'linear');
    const seqJ = lastSeq(e, 'jira');
    const botWrites = () => [
      ...writes(botCalls(e, 'linear', seqL), 'linear'),
      ...writes(botCalls(e, 'jira', seqJ), 'jira'),
    ];
    assert.deepEqual(botWrites(), [], 'nothing was synced before the backfill');

    const dry = await backfill(e, ['--dry-run']);
    assert.equal(dry.paired.length, PAIRS);
    assert.equal(dry.created.length, linearOnly.length + jiraOnly.length);
    const predicted = backfillWriteSet(dry);
    assert.equal(predicted.length, differs.size, JSON.stringify(predicted));

    const links = async () =>
      Number(
        (await e.db.query<{ n: string }>(`select count(*) as n from reconciler_links where flow_id = 'eng'`))
          .rows[0]!.n,
      );
    const backfilledAt = async () =>
      (
        await e.db.query<{ backfilled_at: Date | null }>(
          `select backfilled_at from reconciler_flows where flow_id = 'eng'`,
        )
      ).rows[0]?.backfilled_at ?? null;
    assert.equal(await links(), 0);

    // The gate: the backfill's insert of link HALF + 1 waits on GATE, held by this test's own
    // connection. Only the backfill's connections (its application_name) and only a new link: the
    // running reconciler upserts links too (an insert … on conflict, which fires the trigger) when
    // the echoes of the first pairs' writes come back, and must not be held.
    const holder = await e.db.connect();
    try {
      // DDL waits for the tables' locks: a bound, so a lock held by mistake fails with a message.
      await holder.query(`set lock_timeout = '120s'`);
      holderPid = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      await holder.query('select pg_advisory_lock($1)', [GATE]);
      await holder.query(`
        create or replace function e2e_backfill_gate() returns trigger language plpgsql as $$
        begin
          if current_setting('application_name') = 'lockstep-cli-backfill'
             and not exists (select 1 from reconciler_links where link_id = new.link_id)
             and (select count(*) from reconciler_links where flow_id = new.flow_id) >= ${HALF} then
            perform pg_advisory_xact_lock(${GATE});
          end if;
          return new;
        end $$`);
      await holder.query(
        'create trigger e2e_backfill_gate before insert on reconciler_links for each row execute function e2e_backfill_gate()',
      );

      const child = spawn(
        process.execPath,
        [
          join(ROOT, 'bin', 'lockstep.mjs'),
          'backfill',
          '--flow',
          'eng',
          '--json',
          '-c',
          e.pipeline.configFile,
        ],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.stdout.resume();
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on('exit', (code, signal) => resolve({ code, signal })),
      );
      let early: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      void exited.then((x) => (early = x));
      // Halfway: a backend of the backfill waits on GATE, and HALF links are committed.
      await eventually(
        `the backfill waiting on the gate after ${HALF} pairs`,
        async () => {
          if (early)
            throw new Error(`the backfill exited before the gate (${JSON.stringify(early)}): ${stderr}`);
          const waiting = await e.db.query(
            `select 1 from pg_locks where locktype = 'advisory' and objid = $1 and not granted`,
            [GATE],
          );
          return waiting.rowCount! > 0 ? true : undefined;
        },
        240_000,
      );
      assert.equal(await links(), HALF, 'the killed run committed exactly the pairs before the gate');
      child.kill('SIGKILL');
      assert.deepEqual(await exited, { code: null, signal: 'SIGKILL' });
      // The killed process's backend is still waiting on the gate; it goes, its transaction with it.
      await e.db.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'lockstep-cli-backfill'`,
      );
      await eventually('the killed backfill gone from Postgres', async () =>
        (await e.db.query(`select 1 from pg_stat_activity where application_name = 'lockstep-cli-backfill'`))
          .rowCount === 0
          ? true
          : undefined,
      );
      await holder.query('drop trigger e2e_backfill_gate on reconciler_links');
      await holder.query('drop function e2e_backfill_gate()');
    } finally {
      await holder.query('select pg_advisory_unlock_all()').catch(() => undefined);
      holder.release();
      holderPid = null;
    }
    assert.equal(await links(), HALF, 'nothing the killed run had not committed');
    assert.equal(await backfilledAt(), null, 'the killed run did not record the flow as backfilled');

    // The second run: the HALF linked pairs (both sides of each) are skipped, the rest paired.
    const resumed = await backfill(e, []);
    assert.equal(resumed.alreadyLinked, 2 * HALF);
    assert.equal(resumed.paired.length, PAIRS - HALF);
    assert.deepEqual(resumed.skipped, []);
    assert.equal(resumed.created.length, linearOnly.length + jiraOnly.length);
    assert.notEqual(await backfilledAt(), null, 'the completed run recorded the flow as backfilled');

    await eventually(
      'every unmatched item created on the other side',
      async () => {
        const [li, ji] = [await linearIssues(lin), await jiraIssues(jira)];
        return jiraOnly.every((t) => li.some((i) => i.title === t)) &&
          linearOnly.every((t) => ji.some((i) => i.fields.summary === t))
          ? true
          : undefined;
      },
      120_000,
    );
    await settled(e);
    const [li, ji] = [await linearIssues(lin), await jiraIssues(jira)];
    const count = (all: (string | null | undefined)[], t: string) => all.filter((x) => x === t).length;
    for (const t of [...titles, ...linearOnly, ...jiraOnly])
      assert.deepEqual(
        [
          t,
          count(
            li.map((i) => i.title),
            t,
          ),
          count(
            ji.map((i) => i.fields.summary),
            t,
          ),
        ],
        [t, 1, 1],
        `${t} once on each side`,
      );
    for (const t of differs) {
      const j = ji.find((i) => i.fields.summary === t)!;
      const l = li.find((i) => i.title === t)!;
      assert.equal(
        j.fields.priority?.name === 'High' ? 2 : 3,
        l.priority,
        `${t}: one priority on both sides`,
      );
    }
    // Across both runs: exactly the dry run's writes, none twice, and one create per unmatched item.
    const audit = await queryAudit(e.db, { sinceMs: 0, limit: 100_000 });
    const updates = audit.filter((a) => a.action === 'update' && a.result === 'written');
    assert.deepEqual(
      updates.map((a) => `${a.platform}:${a.targetKey}:${a.field}`).sort(),
      predicted,
      'the writes of the killed and the second run are the dry run’s, each once',
    );
    const creates = audit.filter((a) => a.action === 'create' && a.result === 'written');
    assert.equal(new Set(creates.map((a) => a.commandId)).size, linearOnly.length + jiraOnly.length);
    // And on the platforms: one create call per unmatched item, on the side it was missing from.
    const done = botWrites();
    assert.equal(
      done.filter((w) => w.method === 'POST' && w.path === '/rest/api/3/issue').length,
      linearOnly.length,
      'Jira creates',
    );
    assert.equal(done.filter((w) => w.operation === 'issueCreate').length, jiraOnly.length, 'Linear creates');
  });
});
