/**
 * `lockstep backup` → a new, empty database → `lockstep restore`, on the real pipeline: items are
 * synced between the Linear and Jira emulators, the services are stopped, a backup is taken with
 * the CLI, the database is dropped and created anew, people keep editing while the services are
 * down, the backup is restored with the CLI and the services are started again. Everything
 * converges: every item exists once on each side with its last values, and Lockstep's writes after
 * the restore are exactly the ones the new edits need — nothing created twice, nothing written
 * again. (Run once with the restore left out, on an empty database, the same steps did not
 * converge within 60 s: without the links and cursors the old items are no longer known.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startPipeline, stopPipeline } from '../../services/app/launcher.ts';
import { testStackEndpoints } from '../stack/env.ts';
import type { LedgerEntry } from '../emulators/common/ledger.ts';
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

/** `lockstep <command> <args> -c <world config>`, with its exit code. */
function cli(e: E2E, args: string[]): Promise<CliRun> {
  return lockstep(e, args);
}

/** Bot writes grouped by route (Jira issue ids replaced by `{id}`; Linear by operation). */
function routesOf(entries: LedgerEntry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const w of entries) {
    const route = `${w.method} ${w.path.replace(/\/issue\/[^/]+/, '/issue/{id}')}${w.operation ? ` ${w.operation}` : ''}`;
    out[route] = (out[route] ?? 0) + 1;
  }
  return out;
}

const sorted = (xs: string[]) => [...xs].sort();

describe('backup → empty database → restore → resume (end to end)', { timeout: 400_000 }, () => {
  let e: E2E;
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-e2e-backup-'));
  before(async () => {
    // Polling on: the edits made while ingest is down reach Lockstep through the restored cursors
    // (the emulators' compressed webhook retries give up while ingest is stopped).
    e = await startE2E({ pollIntervalMs: 1000 });
    // Dropping the database terminates this pool's idle connections; the pool reconnects.
    e.db.on('error', () => undefined);
  });
  after(async () => {
    await e?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resumes from the restored state with zero duplicate writes', async () => {
    const bob = e.linearAs('bob');
    const carol = e.jiraAs('carol');
    const ids = await linearIds(bob);

    // 1. Items synced both ways.
    const linTitles = ['Backup L1', 'Backup L2', 'Backup L3', 'Backup L4'];
    const jiraTitles = ['Backup J1', 'Backup J2', 'Backup J3'];
    for (const title of linTitles)
      await bob.createIssue({ teamId: ids.teamId, title, priority: 3, stateId: ids.state('Todo') });
    for (const summary of jiraTitles)
      await carol.issues.createIssue({
        fields: { project: { key: 'ENG' }, summary, issuetype: { name: 'Task' } },
      });
    const all = [...linTitles, ...jiraTitles];
    await eventually(
      'the first items on both sides',
      async () =>
        (await linearIssues(bob)).length === all.length && (await jiraIssues(carol)).length === all.length,
      120_000,
    );
    await settled(e);

    // 2. Services stopped; backup; the database dropped and created anew (empty).
    await stopPipeline(e.pipeline);
    const file = join(dir, 'lockstep-backup.jsonl.gz');
    const b = await cli(e, ['backup', file, '--json']);
    assert.equal(b.code, 0, `lockstep backup exited ${b.code}: ${b.stderr}`);
    const backup = JSON.parse(b.stdout) as {
      rows: number;
      header: { tables: Record<string, number>; consumerGroups: { groupId: string }[] };
    };
    assert.equal(backup.header.tables['reconciler_links'], all.length, 'one link per item');
    assert.ok((backup.header.tables['poll_cursors'] ?? 0) > 0, 'the poll cursors are in the backup');
    assert.deepEqual(
      sorted(backup.header.consumerGroups.map((g) => g.groupId)),
      sorted(['reconciler', 'egress-jira', 'egress-linear'].map((g) => `${e.config.kafka.clientId}-${g}`)),
    );
    assert.match(
      b.stderr,
      /"phase":"backed up","table":"reconciler_links"/,
      'progress on stderr (JSON lines with --json)',
    );

    const database = new URL(e.config.postgres.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: testStackEndpoints().postgres.url });
    await admin.connect();
    await admin.query(`drop database ${database} with (force)`);
    await admin.query(`create database ${database}`);
    await admin.end();

    // 3. People keep working while Lockstep is down.
    const lin = new Map((await linearIssues(bob)).map((i) => [i.title, i]));
    const jir = new Map((await jiraIssues(carol)).map((i) => [i.fields.summary, i]));
    await bob.updateIssue(lin.get('Backup L1')!.id, { title: 'Backup L1 (edited while stopped)' });
    await carol.issues.editIssue({
      issueIdOrKey: jir.get('Backup J1')!.key,
      fields: { summary: 'Backup J1 (edited while stopped)' },
    });
    await bob.createIssue({
      teamId: ids.teamId,
      title: 'Backup L5 (made while stopped)',
      priority: 2,
      stateId: ids.state('Todo'),
    });

    // 4. Restore (the CLI refuses a missing file first), then the services again.
    const missing = await cli(e, ['restore', join(dir, 'nope.jsonl.gz')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /reading backup .*nope\.jsonl\.gz: no such file/);
    const r = await cli(e, ['restore', file, '--json']);
    assert.equal(r.code, 0, `lockstep restore exited ${r.code}: ${r.stderr}`);
    const restored = JSON.parse(r.stdout) as { rows: Record<string, number> };
    assert.deepEqual(restored.rows, backup.header.tables);
    const again = await cli(e, ['restore', file]);
    assert.equal(again.code, 1, 'a second restore into the now non-empty database is refused');
    assert.match(again.stderr, /the database is not empty/);

    const jSince = lastSeq(e, 'jira');
    const lSince = lastSeq(e, 'linear');
    await startPipeline(e.pipeline, e.config);

    // 5. More edits after the restart.
    await bob.updateIssue(lin.get('Backup L2')!.id, { title: 'Backup L2 (edited after restore)' });
    await carol.issues.editIssue({
      issueIdOrKey: jir.get('Backup J2')!.key,
      fields: { summary: 'Backup J2 (edited after restore)' },
    });

    const final = sorted([
      'Backup L1 (edited while stopped)',
      'Backup L2 (edited after restore)',
      'Backup L3',
      'Backup L4',
      'Backup L5 (made while stopped)',
      'Backup J1 (edited while stopped)',
      'Backup J2 (edited after restore)',
      'Backup J3',
    ]);
    await eventually(
      'both sides converged',
      async () => {
        const l = sorted((await linearIssues(bob)).map((i) => i.title));
        const j = sorted((await jiraIssues(carol)).map((i) => i.fields.summary ?? ''));
        return JSON.stringify(l) === JSON.stringify(final) && JSON.stringify(j) === JSON.stringify(final);
      },
      180_000,
    );
    await settled(e);

    // Each item once per side (search lags writes: the final titles are read by key too).
    const jIssues = await jiraIssues(carol);
    assert.deepEqual(sorted(jIssues.map((i) => i.fields.summary ?? '')), final);
    const byKey: string[] = [];
    for (const i of jIssues) byKey.push((await jiraIssue(carol, i.key)).fields.summary ?? '');
    assert.deepEqual(sorted(byKey), final, 'the final titles, read by key');
    assert.deepEqual(sorted((await linearIssues(bob)).map((i) => i.title)), final);

    // Lockstep's writes after the restore: exactly what the new edits need, each once.
    // Jira: the one new Linear item created, two Linear edits carried. Linear: two Jira edits.
    const jw = writes(botCalls(e, 'jira', jSince), 'jira');
    const lw = writes(botCalls(e, 'linear', lSince), 'linear');
    assert.deepEqual(
      routesOf(jw),
      { 'POST /rest/api/3/issue createIssue': 1, 'PUT /rest/api/3/issue/{id} editIssue': 2 },
      JSON.stringify(jw),
    );
    assert.equal(
      new Set(jw.filter((w) => w.method === 'PUT').map((w) => w.path)).size,
      2,
      'two items edited, once each',
    );
    assert.deepEqual(routesOf(lw), { 'POST /graphql issueUpdate': 2 }, JSON.stringify(lw));
  });
});
