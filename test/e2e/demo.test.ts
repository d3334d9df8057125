/**
 * `lockstep demo --json` as a real process against `lockstep start`'s sandbox (real sandbox,
 * ingest, reconciler and egress processes on the shared test stack, private namespace), whose
 * demo flow has four sides: a create and a comment made in the Linear emulator arrive in the
 * Jira and Asana emulators and on the Slack emulator's #eng-sync (a card, a reply in its thread),
 * an edit of the priority in Jira and on the card (Asana holds none), and a section move made in
 * the Asana emulator arrives in Linear, Jira and on the card — each with its time and the trace
 * ids of the writes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { CHECKOUT_ROOT } from '../../deploy/local/stack.ts';
import type { DemoStepResult } from '../../services/cli/commands/demo.ts';
import { startAll, stopAll } from '../../services/cli/commands/start.ts';
import { testStackEndpoints } from '../stack/env.ts';
import { demoSeed as asanaDemoSeed } from '../emulators/asana/index.ts';
import { sandboxClients, sandboxStartOptions } from './sandbox-support.ts';

/** The sandbox flow's Asana side: the emulator's demo project. */
const ASANA_DEMO_PROJECT = asanaDemoSeed().projects[0]!.gid;

function runCli(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(CHECKOUT_ROOT, 'bin', 'lockstep.mjs'), ...args], {
      cwd: CHECKOUT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lockstep ${args.join(' ')}: no exit within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('lockstep demo shows a create, an edit, a comment and an Asana move arriving on the other sides, with times and trace ids', async (t) => {
  const id = randomBytes(4).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), `lockstep-demo-${id}-`));
  const o = await sandboxStartOptions(id, dir);
  const admin = new pg.Client({ connectionString: testStackEndpoints().postgres.url });
  await admin.connect();
  await admin.query(`create database lockstep_sbx_${id}`);
  await admin.end();
  const said: string[] = [];
  o.say = (l) => said.push(l);
  t.after(async () => {
    await stopAll(o).catch(() => undefined);
    const c = new pg.Client({ connectionString: testStackEndpoints().postgres.url });
    await c.connect();
    await c.query(`drop database if exists lockstep_sbx_${id} with (force)`).catch(() => undefined);
    await c.end();
    rmSync(dir, { recursive: true, force: true });
  });

  await startAll(o);
  assert.ok(
    said.some((l) => l.includes('npx lockstep demo')),
    `npm start should end by saying how to run the demo:\n${said.join('\n')}`,
  );

  const r = await runCli(
    [
      'demo',
      '--json',
      '--config',
      join(o.stateDir, 'sandbox.lockstep.yaml'),
      '--sandbox',
      o.sandboxFile,
      '--timeout',
      '90',
    ],
    300_000,
  );
  assert.equal(r.code, 0, `demo failed:\n${r.stdout}\n${r.stderr}`);
  const report = JSON.parse(r.stdout) as { sandbox: boolean; steps: DemoStepResult[] };
  t.diagnostic(report.steps.map((s) => `${s.step}: ${s.seconds}s trace ${s.traceId}`).join('; '));
  assert.equal(report.sandbox, true);
  assert.deepEqual(
    report.steps.map((s) => s.step),
    ['create', 'edit', 'comment', 'move'],
  );
  for (const s of report.steps) {
    assert.ok(s.seconds > 0 && s.seconds < 90, `${s.step}: ${s.seconds}s`);
    assert.match(s.traceId ?? '', /^[0-9a-f]{32}$/, `${s.step}: trace id`);
    for (const w of s.outcomes) {
      assert.equal(w.status, 'applied', `${s.step} on ${w.platform}: outcome`);
      assert.match(w.traceId ?? '', /^[0-9a-f]{32}$/, `${s.step} on ${w.platform}: trace id`);
    }
  }
  // Each side of the four-sided demo flow is written by the steps made elsewhere.
  assert.deepEqual(Object.fromEntries(report.steps.map((s) => [s.step, s.outcomes.map((w) => w.platform)])), {
    create: ['jira', 'asana', 'slack'],
    edit: ['jira', 'slack'],
    comment: ['jira', 'asana', 'slack'],
    move: ['linear', 'jira', 'slack'],
  });
  assert.match(
    report.steps[0]?.arrived ?? '',
    /^Linear ENG-\d+ → Jira ENG-\d+, Asana task \d+, a card in Slack #eng-sync$/,
  );

  // What the people see afterwards, read on each emulator by someone else than the demo's readers.
  const title = /"(Demo [0-9a-f]+: [^"]+)"/.exec(report.steps[0]?.did ?? '')?.[1];
  assert.ok(title, `the demo issue's title in: ${report.steps[0]?.did}`);
  const { asana, jira, linear, slack } = sandboxClients(o.sandboxFile);
  type Msg = {
    ts: string;
    text?: string;
    metadata?: { event_type: string; event_payload: Record<string, unknown> };
  };
  const history = await slack.conversations.history({ channel: 'C0ENGSYNC1', include_all_metadata: true });
  const cards = ((history.messages ?? []) as Msg[]).filter(
    (m) => m.metadata?.event_type === 'lockstep_card' && m.metadata.event_payload['title'] === title,
  );
  assert.equal(cards.length, 1, `one card "${title}" in #eng-sync`);
  assert.equal(cards[0]?.metadata?.event_payload['priority'], 'urgent', 'the Linear priority on the card');
  assert.equal(
    cards[0]?.metadata?.event_payload['status_category'],
    'in_progress',
    'the Asana move on the card',
  );
  const thread = await slack.conversations.replies({ channel: 'C0ENGSYNC1', ts: cards[0]!.ts });
  assert.equal(
    (thread.messages ?? []).filter((m) => (m.text ?? '').includes('reproduced on the staging build')).length,
    1,
    "the Linear comment once in the card's thread",
  );
  const tasks: { data: { gid: string; name: string; memberships: { section?: { name: string } }[] }[] } =
    await asana.tasks.getTasksForProject(ASANA_DEMO_PROJECT, { opt_fields: 'name,memberships.section.name' });
  const task = tasks.data.filter((x) => x.name === title);
  assert.equal(task.length, 1, `one Asana task "${title}"`);
  assert.equal(task[0]?.memberships[0]?.section?.name, 'In progress');
  const stories: { data: { type: string; text: string }[] } = await asana.stories.getStoriesForTask(
    task[0]!.gid,
    { opt_fields: 'type,text' },
  );
  assert.equal(
    stories.data.filter((x) => x.type === 'comment' && x.text.includes('reproduced on the staging build'))
      .length,
    1,
    'the Linear comment once on the Asana task',
  );
  const issues = (await linear.issues({ filter: { title: { eq: title } } })).nodes;
  assert.equal(issues.length, 1, `one Linear issue "${title}"`);
  assert.equal((await issues[0]!.state)?.name, 'In Progress', 'the Asana move in Linear');
  const found = await jira.issueSearch.searchForIssuesUsingJqlEnhancedSearch({
    jql: 'project = ENG ORDER BY created DESC',
    fields: ['summary', 'status'],
    maxResults: 100,
  });
  const inJira = (found.issues ?? []).filter((i) => i.fields.summary === title);
  assert.equal(inJira.length, 1, `one Jira issue "${title}"`);
  assert.equal(inJira[0]?.fields.status?.name, 'In Progress', 'the Asana move in Jira');
});
