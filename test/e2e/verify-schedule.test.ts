/**
 * The scheduled audit end to end (`reconciler.verifyEvery`): the reconciler of a real pipeline
 * runs verify in the background. Two items are synced; a scheduled run finds them in step; then an
 * edit in Jira happens behind Lockstep's back (the emulator drops its webhook, and this world does
 * not poll). The next scheduled run finds that drift: it is recorded in verify_runs, the reconciler's
 * lockstep_verify_* metrics show it, and `lockstep report` names it as an issue with its counts,
 * when it ran and that it was not repaired, recommending `lockstep verify --repair`. Report only is
 * the default: nothing is written. While Jira answers 503 to Lockstep, a run is incomplete, its
 * failed reads are counted and the reconciler stays up; after the outage the next run finds the
 * drift again. A second world with `verifyRepair: true` has the schedule settle
 * the same drift by policy, and a later run finds everything in step.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePrometheusText, sum, type Report } from '../../services/ops/report.ts';
import type { VerifyRunSummary } from '../../services/ops/verify-runs.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import { botId } from './faults-support.ts';
import { jiraIssue, jiraIssues, linearIds, linearIssues } from './helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const EVERY = '5s';

function cli(e: E2E, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin', 'lockstep.mjs'), ...args, '-c', e.pipeline.configFile],
      { cwd: ROOT, timeout: 120_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      },
    );
  });
}

async function reconcilerMetrics(e: E2E) {
  const res = await fetch(`http://${e.config.http.host}:${e.config.reconciler.port}/metrics`);
  return parsePrometheusText(await res.text());
}

interface RunRow {
  run_id: string;
  result: string;
  started_at: Date;
  summary: VerifyRunSummary | null;
}

/** The first scheduled run that started after `sinceMs` and satisfies `ok`. */
function scheduledRun(e: E2E, what: string, sinceMs: number, ok: (r: RunRow) => boolean): Promise<RunRow> {
  return eventually(
    what,
    async () => {
      const r = await e.db.query<RunRow>(
        `select run_id, result, started_at, summary from verify_runs
          where origin = 'schedule' and started_at > $1 order by started_at`,
        [new Date(sinceMs)],
      );
      return r.rows.find(ok);
    },
    90_000,
  );
}

/** Two Linear issues synced to Jira, the pipeline settled. */
async function twoSynced(e: E2E, prefix: string) {
  const bob = e.linearAs('bob');
  const jira = e.jiraAs('carol');
  const ids = await linearIds(bob);
  const titles = [`${prefix}: A`, `${prefix}: B`];
  for (const title of titles) await bob.createIssue({ teamId: ids.teamId, title, priority: 3 });
  const inJira = await eventually('the two issues in Jira', async () => {
    const all = await jiraIssues(jira);
    const found = titles.map((t) => all.find((i) => i.fields.summary === t));
    return found.every((i) => i !== undefined) ? found.map((i) => i!) : undefined;
  });
  await settled(e);
  const lin = await linearIssues(bob);
  return { bob, jira, linearA: lin.find((i) => i.title === titles[0])!, jiraA: inJira[0]! };
}

/** Jira's priority of `key` set to High with its webhook dropped: Lockstep is not told. */
async function editBehindItsBack(e: E2E, key: string): Promise<number> {
  const jira = e.jiraAs('carol');
  await e.jiraControl.fault({ kind: 'webhook_drop', count: 100 });
  const at = Date.now();
  await jira.issues.editIssue({ issueIdOrKey: key, fields: { priority: { name: 'High' } } });
  await e.jiraControl.clearFaults();
  const dropped = (await e.jiraControl.deliveries()).filter((d) => d.outcome === 'dropped');
  assert.equal(dropped.length, 1, `the edit's webhook was dropped: ${JSON.stringify(dropped)}`);
  return at;
}

const JIRA_PRIORITY_DRIFT = [{ flow: 'eng', platform: 'jira', kind: 'field', count: 1 }];

describe('scheduled verify (reconciler.verifyEvery, end to end)', { timeout: 600_000 }, () => {
  describe('report only (the default)', () => {
    let e: E2E;
    before(async () => {
      e = await startE2E({ reconciler: { verifyEvery: EVERY } });
    });
    after(async () => {
      await e?.stop();
    });

    it('finds drift made behind its back; the metrics and lockstep report show it; nothing is written', async () => {
      const { bob, jira, linearA, jiraA } = await twoSynced(e, 'Scheduled');
      const synced = Date.now();
      const clean = await scheduledRun(
        e,
        'a scheduled run after the sync that checked both links',
        synced,
        (r) => r.summary?.links.checked === 2,
      );
      assert.equal(clean.result, 'in_step', JSON.stringify(clean.summary));
      assert.deepEqual(clean.summary?.findings, []);

      const editedAt = await editBehindItsBack(e, jiraA.key);
      const found = await scheduledRun(
        e,
        'a scheduled run after the edit that found the drift',
        editedAt,
        (r) => r.result !== 'in_step',
      );
      assert.equal(found.result, 'drift', JSON.stringify(found.summary));
      assert.deepEqual(found.summary?.findings, JIRA_PRIORITY_DRIFT);
      assert.deepEqual(
        found.summary?.sample.map((s) => [s.field, s.moved]),
        [['priority', ['jira']]],
      );
      assert.equal(found.summary?.repairPublished, null, 'report only: nothing published');

      // The reconciler's metrics, from its /metrics (the run is recorded after they are set).
      const m = await reconcilerMetrics(e);
      const labels = { flow: 'eng', platform: 'jira', kind: 'field' };
      assert.equal(sum(m, 'lockstep_verify_last_run_found', labels), 1);
      assert.ok(sum(m, 'lockstep_verify_drift_found_total', labels) >= 1);
      assert.ok(sum(m, 'lockstep_verify_runs_total', { result: 'in_step' }) >= 1);
      assert.ok(sum(m, 'lockstep_verify_runs_total', { result: 'drift' }) >= 1);
      assert.equal(sum(m, 'lockstep_verify_repaired_total'), 0);
      assert.ok(
        sum(m, 'lockstep_verify_last_run_timestamp_seconds', { result: 'drift' }) * 1000 >= editedAt,
        'the last run timestamp is after the edit',
      );

      // Report only: the drift stays where it is.
      assert.equal((await jiraIssue(jira, jiraA.key)).fields.priority?.name, 'High');
      assert.equal((await linearIssues(bob)).find((i) => i.id === linearA.id)?.priority, 3);

      const rep = await cli(e, ['report', '--json']);
      const json = JSON.parse(rep.stdout) as Report;
      const issue = json.issues.find((i) => i.code === 'verify_drift');
      assert.ok(issue, `a verify_drift issue: ${JSON.stringify(json.issues)}`);
      assert.equal(issue.count, 1);
      assert.deepEqual(issue.breakdown, { field: 1 });
      assert.equal(issue.verify?.origin, 'schedule');
      assert.equal(issue.verify?.repaired, false);
      assert.ok(Date.parse(issue.verify.ranAt) >= editedAt);
      assert.match(
        issue.message,
        /^the last verify \(scheduled, \d+ min ago, flow eng\) found 1 field drifted from the base \(jira 1\); not repaired \(report only\)$/,
      );
      const rec = json.recommendations.find((r) => r.code === 'verify_drift');
      assert.equal(rec?.command, 'lockstep verify --repair');
      assert.equal(json.stats.verify.schedule, EVERY);
      assert.equal(json.stats.verify.last?.origin, 'schedule');

      const text = await cli(e, ['report']);
      assert.match(text.stdout, /^ {2}\[warning\] the last verify \(scheduled, .*found 1 field drifted/m);
      assert.match(
        text.stdout,
        /^ {2}last verify: drift at .* \(scheduled, flow eng\): 2 links checked, 1 drifted fields/m,
      );
      assert.match(text.stdout, /schedule: every 5s/);
    });

    it('a Jira outage: the run is incomplete and counted, the reconciler stays up, and after it the drift is found again', async () => {
      const before = await reconcilerMetrics(e);
      const errorsBefore = sum(before, 'lockstep_verify_read_errors_total', { platform: 'jira' });
      // Every request of Lockstep's bot to Jira answers 503 until the fault is cleared.
      const downAt = Date.now();
      await e.jiraControl.fault({
        kind: 'server_error',
        status: 503,
        forMs: 600_000,
        match: { actor: botId(e, 'jira') },
      });
      const down = await scheduledRun(
        e,
        'a scheduled run during the outage',
        downAt,
        (r) => r.result !== 'drift',
      );
      assert.equal(down.result, 'incomplete', JSON.stringify(down.summary));
      assert.ok((down.summary?.errors ?? 0) >= 1);
      assert.ok(
        down.summary?.errorSample.every((x) => x.platform === 'jira'),
        JSON.stringify(down.summary?.errorSample),
      );
      const during = await reconcilerMetrics(e);
      assert.ok(sum(during, 'lockstep_verify_read_errors_total', { platform: 'jira' }) > errorsBefore);
      assert.ok(sum(during, 'lockstep_verify_runs_total', { result: 'incomplete' }) >= 1);
      const health = await fetch(`http://${e.config.http.host}:${e.config.reconciler.port}/healthz`);
      assert.equal(health.status, 200, 'the reconciler is still up');

      const rep = JSON.parse((await cli(e, ['report', '--json'])).stdout) as Report;
      const issue = rep.issues.find((i) => i.code === 'verify_incomplete');
      assert.ok(issue, `a verify_incomplete issue: ${JSON.stringify(rep.issues)}`);
      assert.match(
        issue.message,
        /could not read everything: \d+ reads? failed \(first: reading issue ENG-\d+: /,
      );

      await e.jiraControl.clearFaults();
      const upAt = Date.now();
      const back = await scheduledRun(e, 'a scheduled run after the outage', upAt, () => true);
      assert.equal(back.result, 'drift', JSON.stringify(back.summary));
      assert.deepEqual(back.summary?.findings, JIRA_PRIORITY_DRIFT);
    });
  });

  describe('verifyRepair: true', () => {
    let e: E2E;
    before(async () => {
      e = await startE2E({ reconciler: { verifyEvery: EVERY, verifyRepair: true } });
    });
    after(async () => {
      await e?.stop();
    });

    it('settles the drift it finds by policy, and a later run finds everything in step', async () => {
      const { bob, linearA, jiraA } = await twoSynced(e, 'Repaired');
      const editedAt = await editBehindItsBack(e, jiraA.key);
      const found = await scheduledRun(
        e,
        'a scheduled run that found the drift',
        editedAt,
        (r) => r.result === 'drift',
      );
      assert.deepEqual(found.summary?.findings, JIRA_PRIORITY_DRIFT);
      assert.equal(found.summary?.repairPublished, 1, 'the moved Jira side handed to the reconciler');
      // last-write-wins: Jira moved, so Linear follows.
      await eventually(
        'Linear has the priority set in Jira',
        async () => (await linearIssues(bob)).find((i) => i.id === linearA.id)?.priority === 2,
        90_000,
      );
      const m = await reconcilerMetrics(e);
      assert.equal(sum(m, 'lockstep_verify_repaired_total', { flow: 'eng', platform: 'jira' }), 1);
      const inStep = await scheduledRun(
        e,
        'a later scheduled run in step',
        Date.parse(found.started_at.toISOString()) + 1,
        (r) => r.result === 'in_step',
      );
      assert.deepEqual(inStep.summary?.findings, []);
    });
  });
});
