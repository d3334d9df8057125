/**
 * Global setup for `node --test --test-global-setup=test/stack/global-setup.ts` (what `npm test`
 * runs): brings up the test instance of the local stack once for the whole run and writes its
 * endpoints for `testStackEndpoints()`. At the end the stack is stopped, unless
 * LOCKSTEP_KEEP_TEST_STACK=1 (then the next run finds it up and starts in seconds).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { localStackEnv } from '../../deploy/local/config.ts';
import { stackDown, stackEndpoints, stackUp, testStack } from '../../deploy/local/stack.ts';
import { ENDPOINTS_FILE } from './env.ts';

const log = (line: string) => process.stderr.write(`[test stack] ${line}\n`);

export async function globalSetup(): Promise<void> {
  const o = testStack(log);
  const t0 = Date.now();
  await stackUp(o);
  mkdirSync(dirname(ENDPOINTS_FILE), { recursive: true });
  writeFileSync(ENDPOINTS_FILE, `${JSON.stringify(stackEndpoints(o), null, 2)}\n`);
  log(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s (state ${o.stateDir})`);
}

export async function globalTeardown(): Promise<void> {
  const o = testStack(log);
  if (localStackEnv().keepTestStack) {
    log('left running (LOCKSTEP_KEEP_TEST_STACK=1); stop it with `npx lockstep down --test`');
    return;
  }
  await stackDown(o);
  rmSync(ENDPOINTS_FILE, { force: true });
}
