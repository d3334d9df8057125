/**
 * A missing system prerequisite is one message naming it and its fix, before anything starts:
 * `lockstep up` run with a PATH that has no `go` and an empty cache (so Jaeger must be built).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { CHECKOUT_ROOT } from '../../deploy/local/stack.ts';

function hasGo(dir: string): boolean {
  try {
    accessSync(join(dir, 'go'), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

test('lockstep up without go on PATH names Go and how to install it, and starts nothing', (t) => {
  const cache = mkdtempSync(join(tmpdir(), 'lockstep-prereq-'));
  t.after(() => rmSync(cache, { recursive: true, force: true }));
  const path = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '' && !hasGo(d));
  assert.ok(path.length > 0);
  const r = spawnSync(process.execPath, [join(CHECKOUT_ROOT, 'bin', 'lockstep.mjs'), 'up', '--test'], {
    cwd: CHECKOUT_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...process.env,
      PATH: path.join(delimiter),
      LOCKSTEP_CACHE_DIR: cache,
      // The go that `LOCKSTEP_GO` would name by default is looked up on PATH.
      LOCKSTEP_GO: 'go',
    },
  });
  assert.equal(r.status, 1, `expected exit 1; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const message = r.stderr;
  assert.match(message, /checking prerequisites: \d+ missing — nothing was started/);
  assert.match(message, /Go 1\.21\+ \(`go`\) for building Jaeger \(first start only\): go not found on PATH/);
  assert.match(message, /fix: install Go 1\.21 or newer/);
  // One message: the prerequisite error and nothing from a component that tried to start.
  assert.equal(message.match(/checking prerequisites/g)?.length, 1, message);
  assert.doesNotMatch(message, /starting…|fetching|initialising/, message);
  // Nothing was downloaded into the empty cache.
  assert.deepEqual(existsSync(cache) ? readdirSync(cache) : [], []);
});
