/**
 * Global setup for `node --test --test-global-setup=test/stack/global-setup.ts` (what `npm test`
 * runs): brings up the test instance of the local stack once for the whole run and writes its
 * endpoints for `testStackEndpoints()`. At the end the stack is stopped, unless
 * LOCKSTEP_KEEP_TEST_STACK=1 (then the next run finds it up and starts in seconds).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { localStackEnv } from '../../deploy/local/config.ts';
import { isAlive } from '../../deploy/local/process.ts';
import { stackDown, stackEndpoints, stackUp, testStack } from '../../deploy/local/stack.ts';
import { ENDPOINTS_FILE } from './env.ts';

const log = (line: string) => process.stderr.write(`[test stack] ${line}\n`);

// Several engineers may run tests in one checkout at once; each run holds a lease (its pid) and
// only the last run to finish stops the shared test stack.
const LEASES = join(dirname(ENDPOINTS_FILE), 'leases');

function otherLiveLeases(): number[] {
  return readdirSync(LEASES, { withFileTypes: true })
    .map((e) => Number(e.name))
    .filter((pid) => Number.isInteger(pid) && pid !== process.pid && isAlive(pid));
}

export async function globalSetup(): Promise<void> {
  const o = testStack(log);
  mkdirSync(LEASES, { recursive: true });
  writeFileSync(join(LEASES, String(process.pid)), '');
  const t0 = Date.now();
  try {
    await stackUp(o);
  } catch (err) {
    // Don't leave half a stack behind (CI would keep its ports busy); the error names the log.
    rmSync(join(LEASES, String(process.pid)), { force: true });
    await stackDown(o).catch(() => undefined);
    throw err;
  }
  mkdirSync(dirname(ENDPOINTS_FILE), { recursive: true });
  writeFileSync(ENDPOINTS_FILE, `${JSON.stringify(stackEndpoints(o), null, 2)}\n`);
  log(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s (state ${o.stateDir})`);
}

export async function globalTeardown(): Promise<void> {
  const o = testStack(log);
  rmSync(join(LEASES, String(process.pid)), { force: true });
  const others = otherLiveLeases();
  // Silent: the test runner's summary stays the last thing printed.
  // LOCKSTEP_KEEP_TEST_STACK=1 leaves it up; `npx lockstep down --test` stops it.
  if (others.length > 0 || localStackEnv().keepTestStack) return;
  await stackDown(o);
  rmSync(ENDPOINTS_FILE, { force: true });
}
