/**
 * `lockstep start` in sandbox mode on the shared test stack for tests: a temp state dir, emulator
 * ports taken by binding port 0, service ports reserved by test/support/ports.ts, a private database and topic namespace.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LinearClient } from '@linear/sdk';
import { Version3Client } from 'jira.js';
import { testStack } from '../../deploy/local/stack.ts';
import type { SandboxEndpoints } from '../../services/app/sandbox-config.ts';
import type { StartOptions } from '../../services/cli/commands/start.ts';
import { LINEAR_DEMO_TOKENS } from '../emulators/linear/index.ts';
import { freePort, freePortPair } from '../support/ports.ts';

export async function sandboxStartOptions(id: string, dir: string): Promise<StartOptions> {
  const lines: string[] = [];
  return {
    stack: testStack(() => undefined),
    stateDir: join(dir, 'state'),
    sandboxFile: join(dir, 'sandbox.json'),
    configFile: undefined,
    sandbox: {
      ports: { linear: 0, jira: 0, asana: 0, slack: 0 },
      ingestPort: await freePort(),
      reconcilerPort: await freePort(),
      egressPort: await freePortPair(),
      database: `lockstep_sbx_${id}`,
      namespace: `sbx-${id}`,
      // The first poll backfills the demo items (links them), as in `npm start` (every 30 s there).
      pollIntervalMs: 2_000,
    },
    say: (l) => lines.push(l),
    progress: (l) => lines.push(l),
  };
}

export function sandboxClients(sandboxFile: string) {
  const sb = JSON.parse(readFileSync(sandboxFile, 'utf8')) as SandboxEndpoints;
  return {
    jira: new Version3Client({
      host: sb.jira.baseUrl,
      authentication: { basic: { email: 'alice@example.com', apiToken: 'sandbox-jira-token-alice' } },
    }),
    linear: new LinearClient({ apiKey: LINEAR_DEMO_TOKENS.bob, apiUrl: sb.linear.apiUrl }),
  };
}
