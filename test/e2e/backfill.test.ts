/**
 * `lockstep backfill` end to end: both emulators are seeded (behind Lockstep's back: seeding sends
 * no webhook, and this world does not poll) with items that already mirror each other — some
 * named by a Jira key in the Linear description, most by the same title only, a few differing in
 * one field, a few titles twice in Jira (ambiguous), a few on one side only, and a few by a Linear
 * attachment whose URL is the Jira issue's. A dry run writes
 * nothing and predicts the real run's writes exactly; the real run (the CLI, against the world's
 * Postgres, Kafka and emulators) pairs with zero duplicates, writes only the differing fields,
 * reports the ambiguous titles and leaves them, and the running pipeline creates the unmatched
 * items on the other side; a second run does nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BackfillReport } from '../../services/cli/commands/backfill.ts';
import { queryAudit } from '../../services/egress/audit.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import {
  backfillWriteSet,
  botCalls,
  type CliRun,
  jiraIssues,
  lastSeq,
  linearIssues,
  lockstep,
  writes,
} from './helpers.ts';

/** Items per group: 4 × SCALE + 12 seeded in Linear, 4 × SCALE + 13 in Jira (47: 200 and 201). */
const SCALE = Number(process.env['LOCKSTEP_E2E_BACKFILL_SCALE'] ?? 47);

function cli(e: E2E, args: string[]): Promise<CliRun> {
  return lockstep(e, args, { timeoutMs: 300_000, maxBuffer: 64 * 1024 * 1024 });
}

async function backfill(e: E2E, args: string[], expectCode: number): Promise<BackfillReport> {
  const r = await cli(e, ['backfill', '--flow', 'eng', ...args, '--json']);
  assert.equal(
    r.code,
    expectCode,
    `lockstep backfill ${args.join(' ')} exited ${r.code}: ${r.stdout} ${r.stderr}`,
  );
  // Progress goes to stderr as JSON lines.
  const progress = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { progress: { scanned: number } });
  assert.ok(progress.length > 0, `JSON progress lines on stderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as BackfillReport;
}

const adf = (text: string) => ({
  type: 'doc',
  version: 1,
  content: [{ type: 'paragraph', content: [{ type: 'text', text }] }],
});

describe('lockstep backfill (end to end)', { timeout: 900_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E();
  });
  after(async () => {
    await e?.stop();
  });

  it('pairs existing items with zero duplicates, writes only what differs, and a second run does nothing', async () => {
    const n = SCALE;
    const range = (k: number, f: (i: number) => string) => Array.from({ length: k }, (_, i) => f(i));
    const byKey = range(n, (i) => `BF key ${i}`);
    const renamed = range(2, (i) => `BF renamed ${i}`);
    const byTitle = range(3 * n, (i) => `BF title ${i}`);
    const differs = range(3, (i) => `BF priority ${i}`);
    const twins = range(2, (i) => `BF twin ${i}`);
    const linearOnly = range(3, (i) => `BF only linear ${i}`);
    const jiraOnly = range(2, (i) => `BF only jira ${i}`);
    const attached = range(2, (i) => `BF attached ${i}`);

    // Jira first: the Linear descriptions name the Jira keys it gives.
    const jiraTitles = [
      ...byKey,
      ...renamed.map((t) => `${t} in jira`),
      ...byTitle,
      ...differs,
      ...twins,
      ...twins,
      ...jiraOnly,
      ...attached,
    ];
    // A new project numbers its issues from 1 in seed order: the issues named by key hold the text
    // the Linear description will hold, so only the rename differs there.
    const named = new Set([...byKey, ...renamed.map((t) => `${t} in jira`)]);
    await e.jiraControl.seed({
      issues: jiraTitles.map((summary, i) => ({
        project: 'ENG',
        summary,
        status: 'To Do',
        priority: 'Medium',
        ...(named.has(summary) && { description: adf(`Mirrors ENG-${i + 1}`) }),
      })),
    });
    const jira = e.jiraAs('carol');
    const seededJira = await eventually('the seeded Jira issues in search', async () => {
      const all = await jiraIssues(jira);
      return all.length === jiraTitles.length ? all : undefined;
    });
    const keyOf = (summary: string) => seededJira.find((i) => i.fields.summary === summary)!.key!;
    for (const [i, t] of jiraTitles.entries())
      if (named.has(t)) assert.equal(keyOf(t), `ENG-${i + 1}`, 'Jira numbers seeded issues in order');
    const linearSeed: { title: string; description?: string; priority?: number }[] = [
      ...byKey.map((t) => ({ title: t, description: `Mirrors ${keyOf(t)}` })),
      ...renamed.map((t) => ({ title: t, description: `Mirrors ${keyOf(`${t} in jira`)}` })),
      ...byTitle.map((t) => ({ title: t })),
      ...differs.map((t) => ({ title: t, priority: 2 })),
      ...twins.map((t) => ({ title: t })),
      ...linearOnly.map((t) => ({ title: t })),
      ...attached.map((t) => ({ title: t })),
    ];
    await e.linearControl.seed({
      issues: linearSeed.map((i) => ({ teamKey: 'ENG', state: 'Todo', priority: 3, ...i })),
    });
    // Linear's own Jira links: an attachment whose URL is the Jira issue's.
    const lin = e.linearAs('bob');
    const seededLinear = await linearIssues(lin);
    for (const t of attached)
      await lin.createAttachment({
        issueId: seededLinear.find((i) => i.title === t)!.id,
        url: `${e.jiraEmu.url}/browse/${keyOf(t)}`,
        title: `Jira ${keyOf(t)}`,
      });
    await settled(e);
    const seqL = lastSeq(e, 'linear');
    const seqJ = lastSeq(e, 'jira');
    const botWrites = () => [
      ...writes(botCalls(e, 'linear', seqL), 'linear'),
      ...writes(botCalls(e, 'jira', seqJ), 'jira'),
    ];
    assert.deepEqual(botWrites(), [], 'nothing was synced before the backfill');

    const t0 = Date.now();
    const dry = await backfill(e, ['--dry-run'], 2);
    const dryMs = Date.now() - t0;
    const pairedCount = byKey.length + renamed.length + byTitle.length + differs.length + attached.length;
    assert.equal(dry.dryRun, true);
    assert.equal(dry.paired.length, pairedCount);
    assert.equal(dry.created.length, linearOnly.length + jiraOnly.length);
    assert.deepEqual(
      dry.ambiguous.map((a) => [a.item.title, a.candidates.length]).sort(),
      twins.map((t) => [t, 2]),
    );
    assert.deepEqual(
      dry.paired
        .filter((p) => p.rule === 'link')
        .map((p) => p.items[0]!.title)
        .sort(),
      [...byKey, ...renamed, ...attached].sort(),
      'the items a Linear description or attachment names by key are paired by that link',
    );
    // Only the differing fields: the renamed titles and the priorities.
    const predicted = backfillWriteSet(dry);
    assert.equal(predicted.length, renamed.length + differs.length, JSON.stringify(predicted));
    assert.equal(predicted.filter((w) => w.endsWith(':title')).length, renamed.length);
    assert.equal(predicted.filter((w) => w.endsWith(':priority')).length, differs.length);
    const links = async () =>
      Number((await e.db.query<{ n: string }>('select count(*) as n from reconciler_links')).rows[0]!.n);
    assert.equal(await links(), 0, 'the dry run made no link');
    await settled(e);
    assert.deepEqual(botWrites(), [], 'the dry run wrote nothing');

    const t1 = Date.now();
    const real = await backfill(e, [], 2);
    const realMs = Date.now() - t1;
    assert.deepEqual(
      backfillWriteSet(real),
      predicted,
      'the dry run predicted exactly the writes of the real run',
    );
    assert.equal(real.paired.length, pairedCount);
    assert.deepEqual(real.skipped, []);

    // The pipeline writes the differing fields and creates the unmatched items on the other side.
    await eventually(
      'every unmatched item created on the other side',
      async () => {
        const [li, ji] = [await linearIssues(lin), await jiraIssues(jira)];
        return (
          jiraOnly.every((t) => li.some((i) => i.title === t)) &&
          linearOnly.every((t) => ji.some((i) => i.fields.summary === t))
        );
      },
      120_000,
    );
    await settled(e);
    const [li, ji] = [await linearIssues(lin), await jiraIssues(jira)];
    // Zero duplicates: each title once per side, except the ambiguous twins, left as they were.
    const count = (titles: string[], t: string) => titles.filter((x) => x === t).length;
    const lt = li.map((i) => i.title);
    const jt = ji.map((i) => i.fields.summary);
    for (const t of [...byKey, ...byTitle, ...differs, ...linearOnly, ...jiraOnly, ...attached])
      assert.deepEqual([t, count(lt, t), count(jt, t)], [t, 1, 1], `${t} once on each side`);
    for (const t of twins) assert.deepEqual([t, count(lt, t), count(jt, t)], [t, 1, 2], `${t} left alone`);
    // The renamed items now share one title (last-write-wins: the record updated last).
    for (const t of renamed) {
      const l = li.find((i) => i.description === `Mirrors ${keyOf(`${t} in jira`)}`)!;
      const j = ji.find((i) => i.key === keyOf(`${t} in jira`))!;
      assert.equal(l.title, j.fields.summary, `${t}: one title on both sides`);
    }
    for (const t of differs) {
      const j = ji.find((i) => i.fields.summary === t)!;
      const l = li.find((i) => i.title === t)!;
      assert.equal(
        j.fields.priority?.name === 'High' ? 2 : 3,
        l.priority,
        `${t}: one priority on both sides`,
      );
    }
    // The audit log: updates only for the predicted fields; creates only for the unmatched items.
    const audit = await queryAudit(e.db, { sinceMs: t1, limit: 100_000 });
    const updates = audit.filter((a) => a.action === 'update' && a.result === 'written');
    assert.deepEqual(
      [...new Set(updates.map((a) => `${a.platform}:${a.field}:${a.commandId}`))].length,
      predicted.length,
      JSON.stringify(updates.map((a) => [a.platform, a.targetKey, a.field])),
    );
    const creates = new Set(audit.filter((a) => a.action === 'create').map((a) => a.commandId));
    assert.equal(creates.size, linearOnly.length + jiraOnly.length);

    const seqL2 = lastSeq(e, 'linear');
    const seqJ2 = lastSeq(e, 'jira');
    const again = await backfill(e, [], 2);
    assert.deepEqual([again.paired.length, again.created.length], [0, 0], JSON.stringify(again));
    assert.equal(again.alreadyLinked, 2 * pairedCount + 2 * (linearOnly.length + jiraOnly.length));
    await settled(e);
    assert.deepEqual(
      [...writes(botCalls(e, 'linear', seqL2), 'linear'), ...writes(botCalls(e, 'jira', seqJ2), 'jira')],
      [],
      'a second run writes nothing',
    );
    // Clear errors for bad arguments.
    const bad = await cli(e, ['backfill', '--flow', 'eng', '--match', 'link,fuzzy']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /--match: unknown rule "fuzzy"/);
    const noFlow = await cli(e, ['backfill', '--flow', 'nope']);
    assert.equal(noFlow.code, 1, noFlow.stderr);
    assert.match(noFlow.stderr, /no flow "nope" in lockstep.yaml/);
    process.stderr.write(
      `[backfill e2e] ${lt.length} Linear / ${jt.length} Jira items: dry run ${dryMs} ms, real run ${realMs} ms\n`,
    );
  });
});
