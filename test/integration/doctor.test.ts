/**
 * `lockstep doctor --json` as a real process, on a checkout with two problems: no `go` on PATH
 * (with an empty cache, so Jaeger would have to be built) and an invalid lockstep.yaml. Each
 * failing check carries its fix; the exit code says something failed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { CHECKOUT_ROOT } from '../../deploy/local/stack.ts';
import type { DoctorCheck } from '../../services/cli/commands/doctor.ts';

function hasGo(dir: string): boolean {
  try {
    accessSync(join(dir, 'go'), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

test('lockstep doctor names a missing Go and an invalid configuration, each with its fix', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-doctor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'lockstep.yaml');
  writeFileSync(config, 'kafka:\n  brokers: [not-a-broker]\n');
  const path = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '' && !hasGo(d));
  const r = spawnSync(process.execPath, [join(CHECKOUT_ROOT, 'bin', 'lockstep.mjs'), 'doctor', '--json'], {
    cwd: CHECKOUT_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...process.env,
      PATH: path.join(delimiter),
      LOCKSTEP_CACHE_DIR: join(dir, 'cache'),
      LOCKSTEP_CONFIG: config,
    },
  });
  assert.equal(r.status, 1, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const report = JSON.parse(r.stdout) as { healthy: boolean; checks: DoctorCheck[] };
  assert.equal(report.healthy, false);
  const go = report.checks.find((c) => c.section === 'prerequisites' && c.name.startsWith('Go '));
  assert.equal(go?.ok, false, JSON.stringify(report.checks, null, 2));
  assert.match(go?.detail ?? '', /go not found on PATH/);
  assert.match(go?.fix ?? '', /install Go 1\.21 or newer/);
  const cfg = report.checks.find((c) => c.section === 'configuration');
  assert.equal(cfg?.ok, false);
  assert.match(cfg?.detail ?? '', /kafka\.brokers\.0: must be host:port/);
  assert.match(cfg?.fix ?? '', /edit .*lockstep\.yaml/);
  assert.deepEqual(
    report.checks.filter((c) => c.section === 'stack').map((c) => c.name),
    ['kafka', 'registry', 'postgres', 'jaeger'],
  );
  for (const c of report.checks.filter((x) => x.ok === false))
    assert.ok(c.fix, `failed check ${c.section}/${c.name} has no fix`);
});
