/**
 * `lockstep demo --json` as a real process against `lockstep start`'s sandbox (real sandbox,
 * ingest, reconciler and egress processes on the shared test stack, private namespace): a
 * create, an edit and a comment made in the Linear emulator arrive in the Jira emulator, each
 * with its time and the trace id of the write.
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
import { sandboxStartOptions } from './sandbox-support.ts';

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

test('lockstep demo shows a create, an edit and a comment arriving, with times and trace ids', async (t) => {
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
    ['create', 'edit', 'comment'],
  );
  for (const s of report.steps) {
    assert.ok(s.seconds > 0 && s.seconds < 90, `${s.step}: ${s.seconds}s`);
    assert.match(s.traceId ?? '', /^[0-9a-f]{32}$/, `${s.step}: trace id`);
    assert.equal(s.outcome?.status, 'applied', `${s.step}: outcome`);
    assert.match(s.arrived, /Jira ENG-\d+/);
  }
  assert.match(report.steps[0]?.arrived ?? '', /^Linear ENG-\d+ → Jira ENG-\d+$/);
});
