/**
 * `lockstep replay` on the real stack: `--dry-run --config <changed.yaml>` lists exactly the writes
 * a changed status map would send and writes nothing; `--from <time>` moves the reconciler's group
 * to the first records at/after the time, and what it replays changes nothing already applied.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { killService } from '../../services/app/launcher.ts';
import { DEMO_STATUS_MAP } from '../../services/app/sandbox-config.ts';
import { createKafka, groupOffsets, readTopicUntil, topicOffsets } from '../../services/core/kafka/index.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import { botCalls, jiraIssues, lastSeq, linearIds, linearIssues, writes } from './helpers.ts';
import { lockstep, reconcilerCaughtUp, reconcilerMetric } from './faults-support.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** A CLI run that must fail: its stderr. */
async function lockstepFails(args: string[]): Promise<string> {
  try {
    await promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'lockstep.mjs'), ...args], {
      cwd: ROOT,
      timeout: 120_000,
    });
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
  throw new Error(`lockstep ${args.join(' ')} succeeded; expected it to fail`);
}

const IN_PROGRESS = DEMO_STATUS_MAP.find((s) => s.category === 'in_progress')!;
const JIRA_IN_PROGRESS = IN_PROGRESS.jira ?? IN_PROGRESS.name!;
const DONE = DEMO_STATUS_MAP.find((s) => s.category === 'done')!;
const JIRA_DONE = DONE.jira ?? DONE.name!;

async function jiraStatus(e: E2E, summary: string, status: string) {
  return eventually(`"${summary}" in Jira with status ${status}`, async () =>
    (await jiraIssues(e.jiraAs('carol'))).find(
      (i) => i.fields.summary === summary && i.fields.status?.name === status,
    ),
  );
}

/** What nothing may change: emulator calls, the reconciler group's offsets, the outbox. */
async function untouched(e: E2E) {
  const kafka = createKafka(e.config.kafka);
  const group = `${e.config.kafka.clientId}-reconciler`;
  return {
    linearCalls: lastSeq(e, 'linear'),
    jiraCalls: lastSeq(e, 'jira'),
    changes: await groupOffsets(kafka, group, e.config.kafka.topics.changes),
    outcomes: await groupOffsets(kafka, group, e.config.kafka.topics.outcomes),
    outbox: Number(
      (await e.db.query<{ n: string }>('select count(*) as n from reconciler_outbox')).rows[0]!.n,
    ),
  };
}

/** Both platforms' synced fields, for before/after comparisons. */
async function snapshot(e: E2E) {
  const linear = (await linearIssues(e.linearAs('alice'))).map((i) => ({
    id: i.id,
    title: i.title,
    state: i.state,
  }));
  const jira = (await jiraIssues(e.jiraAs('carol'))).map((i) => ({ key: i.key, fields: i.fields }));
  return { linear, jira };
}

interface DryRunReport {
  read: { changes: number; outcomes: number; ownWrites: number };
  current: { commands: number; deadLettered: number };
  next: { commands: number; deadLettered: number };
  differences: {
    platform: string;
    field: string;
    action: string;
    targetId: string | null;
    current?: unknown;
    next?: unknown;
    item: string;
  }[];
}

describe('replay: --dry-run of a changed configuration, --from a time', { timeout: 600_000 }, () => {
  let e: E2E;
  let changedConfig: string;
  let sameConfig: string;
  let between: number; // after the creates settled, before the status changes
  let jiraA: string;
  before(async () => {
    e = await startE2E();
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    const created: string[] = [];
    for (const title of ['Replay A', 'Replay B', 'Replay C']) {
      const r = await bob.createIssue({ teamId: ids.teamId, title });
      created.push((await r.issue)!.id);
    }
    for (const title of ['Replay A', 'Replay B', 'Replay C'])
      await eventually(`"${title}" in Jira`, async () =>
        (await jiraIssues(e.jiraAs('carol'))).find((i) => i.fields.summary === title),
      );
    await settled(e);
    between = Date.now();
    await bob.updateIssue(created[0]!, { stateId: ids.state(IN_PROGRESS.name!) });
    await bob.updateIssue(created[1]!, { stateId: ids.state(DONE.name!) });
    jiraA = (await jiraStatus(e, 'Replay A', JIRA_IN_PROGRESS)).key;
    await jiraStatus(e, 'Replay B', JIRA_DONE);
    await settled(e);

    // The changed configuration: Jira's name for the in_progress status is another one.
    const doc = parse(readFileSync(e.pipeline.configFile, 'utf8')) as {
      flows: { statusMap: Record<string, string>[] }[];
    };
    sameConfig = join(dirname(e.pipeline.configFile), 'same.yaml');
    writeFileSync(sameConfig, stringify(doc));
    for (const s of doc.flows[0]!.statusMap) if (s.category === 'in_progress') s.jira = 'In Review';
    changedConfig = join(dirname(e.pipeline.configFile), 'changed.yaml');
    writeFileSync(changedConfig, stringify(doc));
  });
  after(async () => {
    await e?.stop();
  });

  it('--dry-run lists exactly the writes the changed status map sends differently, and writes nothing', async (t) => {
    const before = await untouched(e);
    const t0 = Date.now();
    const out = await lockstep([
      'replay',
      '--dry-run',
      '--current',
      e.pipeline.configFile,
      '--config',
      changedConfig,
      '--json',
    ]);
    t.diagnostic(`dry run in ${Date.now() - t0} ms`);
    const r = JSON.parse(out) as DryRunReport;
    t.diagnostic(JSON.stringify({ read: r.read, current: r.current, next: r.next }));
    assert.ok(r.read.changes > 0);
    // The running configuration, simulated, sends what the real pipeline sent: one command per
    // outcome egress published (3 creates, 2 status updates; no faults here, so no repeats).
    assert.equal(r.current.commands, r.read.outcomes);
    assert.equal(r.current.deadLettered, 0);
    assert.equal(r.next.deadLettered, 0);
    assert.equal(r.differences.length, 1, JSON.stringify(r.differences));
    const d = r.differences[0]!;
    assert.equal(d.platform, 'jira');
    assert.equal(d.action, 'update');
    assert.equal(d.field, 'status');
    assert.deepEqual(d.current, { category: 'in_progress', name: JIRA_IN_PROGRESS });
    assert.deepEqual(d.next, { category: 'in_progress', name: 'In Review' });
    assert.match(d.item, new RegExp(`^jira ${jiraA} `));

    // The text form says the same.
    const text = await lockstep([
      'replay',
      '--dry-run',
      '--current',
      e.pipeline.configFile,
      '--config',
      changedConfig,
    ]);
    t.diagnostic(text);
    assert.match(text, /1 difference:/);
    assert.match(
      text,
      new RegExp(`jira ${jiraA} .*update status: current .*${JIRA_IN_PROGRESS}.* → new .*In Review`),
    );

    // The running configuration against itself: no differences, as many commands as it sent.
    const same = JSON.parse(
      await lockstep([
        'replay',
        '--dry-run',
        '--current',
        e.pipeline.configFile,
        '--config',
        sameConfig,
        '--json',
      ]),
    ) as DryRunReport;
    assert.deepEqual(same.differences, []);
    assert.equal(same.current.commands, same.next.commands);

    // --flow and --from narrow what is shown: the status change came after `between`.
    const narrowed = JSON.parse(
      await lockstep([
        'replay',
        '--dry-run',
        '--current',
        e.pipeline.configFile,
        '--config',
        changedConfig,
        '--flow',
        'eng',
        '--from',
        new Date(between).toISOString(),
        '--json',
      ]),
    ) as DryRunReport;
    assert.deepEqual(narrowed.differences, r.differences);

    assert.deepEqual(await untouched(e), before);
  });

  it('refuses bad arguments with a clear message', async () => {
    const cfg = e.pipeline.configFile;
    assert.match(await lockstepFails(['replay', '-c', cfg]), /give the starting point/);
    assert.match(
      await lockstepFails(['replay', '-c', cfg, '--from-beginning', '--flow', 'eng']),
      /--flow works with --dry-run only/,
    );
    assert.match(
      await lockstepFails(['replay', '-c', cfg, '--from', '2099-01-01T00:00:00Z']),
      /is in the future/,
    );
    assert.match(
      await lockstepFails(['replay', '-c', cfg, '--from', 'yesterday']),
      /--from must be a duration/,
    );
    assert.match(
      await lockstepFails(['replay', '-c', cfg, '--from', '30d']),
      /before the retained history of .*earliest retained record is from 20/,
    );
    assert.match(
      await lockstepFails(['replay', '--dry-run', '--current', cfg, '--config', cfg, '--flow', 'nope']),
      /no flow nope in either configuration/,
    );
  });

  it('--from moves the reconciler group to the first records at/after the time; replaying them changes nothing', async (t) => {
    await settled(e);
    const state = await snapshot(e);
    const jSince = lastSeq(e, 'jira');
    const lSince = lastSeq(e, 'linear');
    const kafka = createKafka(e.config.kafka);
    const topic = e.config.kafka.topics.changes;

    // Where each partition's first record at/after `between` is, read from the records themselves.
    const high = await topicOffsets(kafka, topic);
    const expected = new Map(high.map((o) => [o.partition, o.high]));
    await readTopicUntil(kafka, topic, new Map(high.map((o) => [o.partition, BigInt(o.high)])), (r) => {
      const first = expected.get(r.partition)!;
      if (r.timestampMs >= between && BigInt(r.offset) < BigInt(first)) expected.set(r.partition, r.offset);
    });
    const records = high.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(expected.get(o.partition)!)), 0);
    assert.ok(records > 0, 'the status changes after `between` are on the changes topic');
    assert.ok(
      records < high.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0),
      'the creates before `between` are not replayed',
    );

    await killService(e.pipeline, 'reconciler', 'SIGTERM');
    const out = JSON.parse(
      await lockstep([
        'replay',
        '--from',
        new Date(between).toISOString(),
        '-c',
        e.pipeline.configFile,
        '--wait',
        '60',
        '--json',
      ]),
    ) as { records: number; partitions: { partition: number; to: string }[] };
    assert.equal(out.records, records);
    for (const p of out.partitions) assert.equal(p.to, expected.get(p.partition), `partition ${p.partition}`);
    const moved = await groupOffsets(kafka, `${e.config.kafka.clientId}-reconciler`, topic);
    for (const p of moved)
      assert.equal(p.offset, expected.get(p.partition), `committed, partition ${p.partition}`);

    await e.restart('reconciler');
    const t0 = Date.now();
    let seen = { caughtUp: false, duplicates: 0 };
    await eventually(
      `the reconciler to read the ${records} records from --from again`,
      async () => {
        seen = {
          caughtUp: await reconcilerCaughtUp(e),
          duplicates: await reconcilerMetric(e, 'lockstep_reconciler_notes_total', { code: 'duplicate' }),
        };
        return seen.caughtUp && seen.duplicates >= records;
      },
      120_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}; last seen: ${JSON.stringify(seen)}`);
    });
    t.diagnostic(`caught up on ${records} records in ${Date.now() - t0} ms`);
    assert.equal(
      await reconcilerMetric(e, 'lockstep_reconciler_notes_total', { code: 'duplicate' }),
      records,
    );
    await settled(e);
    assert.deepEqual(writes(botCalls(e, 'jira', jSince), 'jira'), []);
    assert.deepEqual(writes(botCalls(e, 'linear', lSince), 'linear'), []);
    assert.deepEqual(await snapshot(e), state);
  });
});
