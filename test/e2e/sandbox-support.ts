/**
 * `lockstep start` in sandbox mode on the shared test stack for tests: a temp state dir, emulator
 * and service ports taken by binding port 0, a private database and topic namespace.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { LinearClient } from '@linear/sdk';
import { Version3Client } from 'jira.js';
import { testStack } from '../../deploy/local/stack.ts';
import type { SandboxEndpoints } from '../../services/app/sandbox-config.ts';
import type { StartOptions } from '../../services/cli/commands/start.ts';
import { LINEAR_DEMO_TOKENS } from '../emulators/linear/index.ts';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const a = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  if (a === null || typeof a === 'string') throw new Error('binding port 0: no port');
  return a.port;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** egress takes base + platform index (linear 0, jira 1). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p < 65535 && (await portFree(p + 1))) return p;
  }
  throw new Error('finding two adjacent free ports for egress: none in 50 tries');
}

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
