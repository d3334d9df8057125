/**
 * The first run of a flow is a backfill (issue 10): live sync mirrors the items made after the
 * flow began and leaves the ones that existed before to `lockstep backfill`, which may find their
 * counterparts. Through the real pipeline processes, with the Linear poller on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Report } from '../../services/ops/report.ts';
import { eventually, startE2E, type E2E } from './harness.ts';
import { reconcilerMetric, writesSettled } from './faults-support.ts';
import { lockstep } from './helpers.ts';

/** Jira issues by summary, from the emulator's state (search lags on purpose). */
async function jiraSummaries(e: E2E): Promise<string[]> {
  const state = (await e.jiraControl.state()) as { issues: { fields: { summary: string } }[] };
  return state.issues.map((i) => i.fields.summary);
}

async function report(e: E2E): Promise<Report> {
  const r = await lockstep(e, ['report', '--json']);
  // Exit 1 means an error-level issue; the JSON is printed either way.
  assert.ok(r.code === 0 || r.code === 1, `lockstep report exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Report;
}

describe('the first run of a flow is a backfill', { timeout: 600_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E({ pollIntervalMs: 500 });
  });
  after(async () => {
    await e?.stop();
  });

  it('a poll mirrors an item made after the flow began, leaves an older one to backfill, and backfill creates it', async () => {
    const old = 'First run: made before the flow began';
    const fresh = 'First run: made after the flow began';
    const dayAgo = new Date(Date.now() - 24 * 60 * 60_000).toISOString();
    // Seeded, so no webhook tells of them: only the Linear poller reads them.
    await e.linearControl.seed({
      issues: [
        { teamKey: 'ENG', title: old, state: 'Todo', createdAt: dayAgo, updatedAt: new Date().toISOString() },
        { teamKey: 'ENG', title: fresh, state: 'Todo' },
      ],
    });
    await eventually('the new item created in Jira by live sync', async () =>
      (await jiraSummaries(e)).includes(fresh) ? true : undefined,
    );
    await eventually('the reconciler to leave the older item to backfill', async () =>
      (await reconcilerMetric(e, 'lockstep_reconciler_notes_total', { code: 'awaits_backfill' })) >= 1
        ? true
        : undefined,
    );
    await writesSettled(e);
    assert.deepEqual(
      (await jiraSummaries(e)).filter((s) => s === old),
      [],
      'live sync created an item that existed before the flow began',
    );

    const before = await report(e);
    const flow = before.flows.find((f) => f.id === 'eng');
    assert.ok(flow?.startedAt, `flows[].startedAt: ${JSON.stringify(before.flows)}`);
    assert.equal(flow.backfilledAt, null);
    const issue = before.issues.find((i) => i.code === 'not_backfilled');
    assert.ok(issue, `a not_backfilled issue: ${JSON.stringify(before.issues)}`);
    assert.equal(issue.flow, 'eng');
    assert.ok((issue.count ?? 0) >= 1, JSON.stringify(issue));
    assert.ok(
      before.recommendations.some((r) => r.command === 'lockstep backfill --flow eng --dry-run'),
      JSON.stringify(before.recommendations),
    );

    const run = await lockstep(e, ['backfill', '--flow', 'eng', '--json']);
    assert.equal(run.code, 0, `lockstep backfill exited ${run.code}: ${run.stdout} ${run.stderr}`);
    const filled = JSON.parse(run.stdout) as { created: { title?: string }[]; alreadyLinked: number };
    assert.deepEqual(
      filled.created.map((c) => c.title),
      [old],
    );
    assert.equal(filled.alreadyLinked, 2, 'the item live sync mirrored is linked, on both sides');
    await eventually('the older item created in Jira by the backfill', async () =>
      (await jiraSummaries(e)).includes(old) ? true : undefined,
    );
    await writesSettled(e);
    const summaries = await jiraSummaries(e);
    assert.equal(summaries.filter((s) => s === old).length, 1, summaries.join(', '));
    assert.equal(summaries.filter((s) => s === fresh).length, 1, summaries.join(', '));

    const afterwards = await report(e);
    assert.ok(afterwards.flows.find((f) => f.id === 'eng')?.backfilledAt, JSON.stringify(afterwards.flows));
    assert.equal(
      afterwards.issues.find((i) => i.code === 'not_backfilled'),
      undefined,
      JSON.stringify(afterwards.issues),
    );
  });
});
