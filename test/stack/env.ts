/**
 * What tests call to reach the shared test stack started by test/stack/global-setup.ts.
 * Tests use random topic, group and subject names so they can share it (STYLE.md rule 10).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackEndpoints } from '../../deploy/local/stack.ts';
import { STATE_ROOT } from '../../deploy/local/stack.ts';

export type { StackEndpoints } from '../../deploy/local/stack.ts';

export const ENDPOINTS_FILE = join(STATE_ROOT, 'test', 'endpoints.json');

export function testStackEndpoints(): StackEndpoints {
  if (!existsSync(ENDPOINTS_FILE))
    throw new Error(
      `reading test stack endpoints: ${ENDPOINTS_FILE} is missing; run tests through \`npm test\` ` +
        '(or `node --test --test-global-setup=test/stack/global-setup.ts …`) so the test stack is started',
    );
  return JSON.parse(readFileSync(ENDPOINTS_FILE, 'utf8')) as StackEndpoints;
}
