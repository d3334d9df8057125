/**
 * The supervisor as a real process: it restarts a service that dies, with doubling delays, and
 * reports a crash loop; SIGTERM stops it and its service without a restart.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  DEFAULT_RESTART_POLICY,
  nextBackoff,
  recordRestart,
  type RestartPolicy,
  type SupervisorState,
} from './supervisor.ts';

const SUPERVISOR = join(import.meta.dirname, 'supervisor.ts');

function read(file: string): SupervisorState | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SupervisorState;
  } catch {
    return null;
  }
}

async function until<T>(
  what: string,
  probe: () => T | null | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`waiting for ${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function run(policy: Partial<RestartPolicy>, script: string) {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-supervisor-'));
  const file = join(dir, 'svc.supervisor.json');
  const sup = spawn(
    process.execPath,
    [SUPERVISOR, file, JSON.stringify(policy), process.execPath, '-e', script],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  sup.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => sup.on('exit', (code) => r(code)));
  return {
    file,
    sup,
    exited,
    output: () => out,
    cleanup: () => {
      if (sup.exitCode === null) sup.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('supervisor', { timeout: 120_000 }, () => {
  it('doubles the delay after short runs, caps it, and resets it after a long run', () => {
    const p = { ...DEFAULT_RESTART_POLICY, backoffBaseMs: 100, backoffMaxMs: 350, resetAfterMs: 1000 };
    assert.equal(nextBackoff(p, null, 5), 100);
    assert.equal(nextBackoff(p, 100, 5), 200);
    assert.equal(nextBackoff(p, 200, 5), 350);
    assert.equal(nextBackoff(p, 350, 5), 350);
    assert.equal(nextBackoff(p, 350, 1000), 100, 'a run as long as resetAfterMs resets the backoff');
  });

  it('counts restarts inside the window only', () => {
    const p = { ...DEFAULT_RESTART_POLICY, crashLoopRestarts: 3, crashLoopWindowMs: 1000 };
    assert.deepEqual(recordRestart(p, [0, 500], 900), { recentRestartsMs: [0, 500, 900], crashLoop: true });
    assert.deepEqual(recordRestart(p, [0, 500], 1200), { recentRestartsMs: [500, 1200], crashLoop: false });
  });

  it('restarts a SIGKILLed service and records the kill', async () => {
    const r = run({ backoffBaseMs: 100 }, 'setInterval(() => {}, 1000)');
    try {
      const first = await until('the service to run', () => {
        const s = read(r.file);
        return s?.state === 'running' && s.pid !== null && s;
      });
      process.kill(first.pid!, 'SIGKILL');
      const second = await until('the service to be restarted', () => {
        const s = read(r.file);
        return s?.state === 'running' && s.pid !== first.pid && s.pid !== null && s;
      });
      assert.equal(second.restarts, 1);
      assert.equal(second.lastExit?.signal, 'SIGKILL');
      assert.equal(second.crashLoop, false);
      // SIGTERM stops the service and the supervisor, with no restart.
      r.sup.kill('SIGTERM');
      assert.equal(await r.exited, 0);
      const last = read(r.file);
      assert.equal(last?.state, 'stopped');
      assert.equal(last?.restarts, 1);
      assert.equal(last?.lastExit?.signal, 'SIGTERM');
    } finally {
      r.cleanup();
    }
  });

  it('a service that keeps dying is a crash loop, with growing delays', async () => {
    const r = run(
      { backoffBaseMs: 50, backoffMaxMs: 400, crashLoopRestarts: 4, crashLoopWindowMs: 60_000 },
      'process.exit(3)',
    );
    try {
      const s = await until('a crash loop', () => {
        const st = read(r.file);
        return st?.crashLoop === true && st;
      });
      assert.ok(s.restarts >= 4, `restarts ${s.restarts}`);
      assert.equal(s.lastExit?.code, 3);
      const delays = await until('four restarts logged', () => {
        const d = [...r.output().matchAll(/restart \d+ in (\d+) ms/g)].map((m) => Number(m[1]));
        return d.length >= 4 && d;
      });
      assert.deepEqual(delays.slice(0, 4), [50, 100, 200, 400], r.output());
    } finally {
      r.cleanup();
    }
  });
});
