/**
 * `lockstep verify` end to end: four items are synced through the real pipeline; then edits on
 * both emulated platforms and a delete on each happen behind Lockstep's back (the emulators drop
 * their webhooks, and this world does not poll, so nothing reaches Lockstep). `verify --json` (the
 * real CLI, against the world's Postgres and emulators) reports exactly that drift, with the base,
 * both values and the side that moved, and the deleted items; `verify --repair` hands them to the
 * running pipeline, which settles each field by its policy (last-write-wins here) and each delete
 * by onDelete (unlink), with audit records naming the repair's events; a second verify finds
 * everything in step. Each run is recorded, and `lockstep report` shows the last one's drift.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '../../schemas/generated/types.ts';
import type { Report } from '../../services/ops/report.ts';
import type { VerifyReport } from '../../services/ops/verify.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import { type CliRun, jiraIssue, jiraIssues, linearIds, linearIssues, lockstep } from './helpers.ts';

function cli(e: E2E, args: string[]): Promise<CliRun> {
  return lockstep(e, args);
}

async function verify(e: E2E, args: string[], expectCode: number): Promise<VerifyReport> {
  const r = await cli(e, ['verify', ...args, '--json']);
  assert.equal(
    r.code,
    expectCode,
    `lockstep verify ${args.join(' ')} exited ${r.code}: ${r.stdout} ${r.stderr}`,
  );
  return JSON.parse(r.stdout) as VerifyReport;
}

describe('lockstep verify (end to end)', { timeout: 600_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E();
  });
  after(async () => {
    await e?.stop();
  });

  it('finds drift made behind its back and a deleted item, and --repair settles them by policy', async () => {
    const bob = e.linearAs('bob');
    const jira = e.jiraAs('carol');
    const ids = await linearIds(bob);
    const titles = [
      'Verify: A export fails',
      'Verify: B slow search',
      'Verify: C typo on login',
      'Verify: D old duplicate',
    ];
    for (const title of titles) await bob.createIssue({ teamId: ids.teamId, title, priority: 3 });
    const inJira = await eventually('the four issues in Jira', async () => {
      const all = await jiraIssues(jira);
      const found = titles.map((t) => all.find((i) => i.fields.summary === t));
      return found.every((i) => i !== undefined) ? found.map((i) => i!) : undefined;
    });
    await settled(e);
    const lin = await linearIssues(bob);
    const [a, b, c, d] = titles.map((t) => lin.find((i) => i.title === t)!);
    const [ja, jb, jc, jd] = inJira;
    assert.ok(a && b && c && d && ja && jb && jc && jd);

    const clean = await verify(e, [], 0);
    assert.equal(clean.links.checked, 4);
    assert.deepEqual([clean.drift, clean.missing, clean.unlinked, clean.errors], [[], [], [], []]);
    // The emulated Jira workflow has no Backlog status (new Linear issues are in Backlog): the
    // reconciler saw To Do there and left it, which verify reports as known, not as drift.
    assert.deepEqual(
      clean.waiting.map((w) => `${w.field} ${w.platform} ${w.reason}`),
      Array<string>(4).fill('status jira known'),
    );

    // Behind Lockstep's back: every webhook of these edits is lost (no poller runs in this world).
    await e.linearControl.fault({ kind: 'webhook_drop', count: 100 });
    await e.jiraControl.fault({ kind: 'webhook_drop', count: 100 });
    await bob.updateIssue(a.id, { title: 'Verify: A export fails on Safari' });
    await jira.issues.editIssue({ issueIdOrKey: ja.key, fields: { priority: { name: 'High' } } });
    await jira.issues.editIssue({ issueIdOrKey: jb.key, fields: { labels: ['customer'] } });
    await jira.issues.deleteIssue({ issueIdOrKey: jc.key });
    await bob.deleteIssue(d.id);
    await e.linearControl.clearFaults();
    await e.jiraControl.clearFaults();
    const dropped = [...(await e.linearControl.deliveries()), ...(await e.jiraControl.deliveries())].filter(
      (d) => d.outcome === 'dropped',
    );
    assert.equal(dropped.length, 5, `the five edits' webhooks were dropped: ${JSON.stringify(dropped)}`);
    await settled(e);

    const found = await verify(e, [], 2);
    assert.deepEqual(found.errors, []);
    const drift = found.drift
      .map((d) => ({
        field: d.field,
        base: d.base,
        moved: d.moved,
        values: Object.fromEntries(d.sides.map((s) => [s.platform, s.value])),
        item: d.sides.find((s) => s.platform === 'linear')?.entityKey,
      }))
      .sort((x, y) => `${x.item}${x.field}`.localeCompare(`${y.item}${y.field}`));
    assert.deepEqual(
      drift,
      [
        {
          field: 'priority',
          base: 'medium',
          moved: ['jira'],
          values: { linear: 'medium', jira: 'high' },
          item: a.identifier,
        },
        {
          field: 'title',
          base: 'Verify: A export fails',
          moved: ['linear'],
          values: { linear: 'Verify: A export fails on Safari', jira: 'Verify: A export fails' },
          item: a.identifier,
        },
        {
          field: 'labels',
          base: [],
          moved: ['jira'],
          values: { linear: [], jira: ['customer'] },
          item: b.identifier,
        },
      ].sort((x, y) => `${x.item}${x.field}`.localeCompare(`${y.item}${y.field}`)),
    );
    assert.deepEqual(
      found.missing.map((m) => `${m.platform} ${m.entityId}`).sort(),
      [`jira ${jc.id}`, `linear ${d.id}`].sort(),
    );
    assert.deepEqual(found.unlinked, []);
    assert.equal(found.repair, null, 'without --repair nothing is published');

    // The people-facing table says the same.
    const text = await cli(e, ['verify']);
    assert.equal(text.code, 2);
    assert.match(text.stdout, /drift \(3\):/);
    assert.match(text.stdout, new RegExp(`jira ${jc.key}: `));

    const repaired = await verify(e, ['--repair'], 2);
    assert.equal(repaired.drift.length, 3);
    assert.ok(repaired.repair);
    // The moved sides (Linear A, Jira A, Jira B) and the delete of Jira C.
    assert.deepEqual(
      repaired.repair.events.map((x) => `${x.op} ${x.platform} ${x.entityId}`).sort(),
      [
        `d jira ${jc.id}`,
        `d linear ${d.id}`,
        `r jira ${ja.id}`,
        `r jira ${jb.id}`,
        `r linear ${a.id}`,
      ].sort(),
    );
    // Each run is recorded for `lockstep report`; the last one (this repair) is its verify issue.
    const runs = await e.db.query<{ origin: string; result: string; repair: boolean; published: number }>(
      `select origin, result, repair, (summary->>'repairPublished')::int as published
         from verify_runs order by finished_at`,
    );
    assert.deepEqual(
      runs.rows.map((r) => `${r.origin} ${r.result} ${r.repair} ${r.published}`),
      ['cli in_step false null', 'cli drift false null', 'cli drift false null', 'cli drift true 5'],
    );
    const rep = JSON.parse((await cli(e, ['report', '--json'])).stdout) as Report;
    const issue = rep.issues.find((i) => i.code === 'verify_drift');
    assert.equal(issue?.count, 5, JSON.stringify(rep.issues));
    assert.deepEqual(issue.breakdown, { field: 3, missing: 2 });
    assert.equal(issue.verify?.origin, 'cli');
    assert.equal(issue.verify?.repaired, true);
    assert.equal(rep.recommendations.find((r) => r.code === 'verify_drift')?.command, 'lockstep verify');

    await eventually(
      'the repaired values on both sides',
      async () =>
        (await jiraIssue(jira, ja.key)).fields.summary === 'Verify: A export fails on Safari' &&
        (await linearIssues(bob)).find((i) => i.id === a.id)?.priority === 2 &&
        (await linearIssues(bob)).find((i) => i.id === b.id)?.labels.nodes.some((l) => l.name === 'customer'),
      90_000,
    );
    await settled(e);
    const after = await linearIssues(bob);
    assert.equal(after.find((i) => i.id === a.id)?.title, 'Verify: A export fails on Safari');
    assert.equal((await jiraIssue(jira, ja.key)).fields.priority?.name, 'High');
    assert.deepEqual((await jiraIssue(jira, jb.key)).fields.labels, ['customer']);
    // onDelete: unlink — the Linear item stays, its link is closed.
    assert.ok(
      after.find((i) => i.id === c.id),
      'the Linear side of the deleted Jira issue is left as it is',
    );
    assert.ok(
      (await jiraIssue(jira, jd.key)).fields.summary,
      'the Jira side of the deleted Linear issue is left as it is',
    );
    for (const [platform, id] of [
      ['jira', jc.id],
      ['linear', d.id],
    ]) {
      const closed = await e.db.query<{ status: string }>(
        `select l.status from reconciler_links l join reconciler_link_entities x on x.link_id = l.link_id
          where x.platform = $1 and x.entity_id = $2`,
        [platform, id],
      );
      assert.equal(closed.rows[0]?.status, 'unlinked', `the link of the deleted ${platform} item is closed`);
    }

    // The repair's writes are audited like any other, caused by the repair's events.
    const audit = await cli(e, ['audit', '--item', `jira:${ja.key}`, '--json']);
    assert.equal(audit.code, 0, audit.stderr);
    const records = audit.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as AuditRecord);
    const repairIds = new Set(repaired.repair.events.map((x) => x.eventId));
    const write = records.find((r) => r.cause?.ref !== undefined && repairIds.has(r.cause.ref));
    assert.ok(write, `an audit record of the repair write: ${JSON.stringify(records.map((r) => r.cause))}`);
    assert.equal(write.cause?.via, 'backfill');

    const again = await verify(e, [], 0);
    assert.deepEqual([again.drift, again.missing, again.unlinked, again.errors], [[], [], [], []]);
    assert.equal(again.links.checked, 2);
    assert.equal(again.links.closed, 2);
  });

  it('bad arguments and an unknown flow get a clear error and exit 1', async () => {
    const unknown = await cli(e, ['verify', '--flow', 'nope']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no flow "nope" in lockstep.yaml \(its flows: eng\)/);
    const share = await cli(e, ['verify', '--share', '2']);
    assert.equal(share.code, 1);
    assert.match(share.stderr, /--share must be a number from 0.01 to 1, got 2/);
  });
});
