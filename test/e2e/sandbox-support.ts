/**
 * `lockstep start` in sandbox mode on the shared test stack for tests: a temp state dir, emulator
 * ports taken by binding port 0, service ports reserved by test/support/ports.ts, a private database and topic namespace.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LinearClient } from '@linear/sdk';
import Asana from 'asana';
import { Version3Client } from 'jira.js';
import { testStack } from '../../deploy/local/stack.ts';
import { platformIndex } from '../../services/connectors/registry.ts';
import { SANDBOX_SIDES, type SandboxEndpoints } from '../../services/app/sandbox-config.ts';
import type { StartOptions } from '../../services/cli/commands/start.ts';
import { DEMO_TOKENS as ASANA_DEMO_TOKENS } from '../emulators/asana/index.ts';
import { LINEAR_DEMO_TOKENS } from '../emulators/linear/index.ts';
import { freePort, freePortRun } from '../support/ports.ts';
import { WebClient } from '@slack/web-api';
import { DEMO_TOKENS as SLACK_DEMO_TOKENS } from '../emulators/slack/index.ts';

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
      // Egress of each side listens on this port + the platform's registry index.
      egressPort: await freePortRun(Math.max(...SANDBOX_SIDES.map((f) => platformIndex(f.platform))) + 1),
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
    asana: asanaAs(sb.asana.baseUrl, ASANA_DEMO_TOKENS.alice),
    slack: new WebClient(SLACK_DEMO_TOKENS.bob, {
      slackApiUrl: sb.slack.apiUrl,
      retryConfig: { retries: 0 },
    }),
  };
}

/** The official Asana SDK's API objects acting as a person of the emulator's demo seed. */
function asanaAs(baseUrl: string, token: string) {
  const client = new Asana.ApiClient();
  client.basePath = baseUrl;
  client.authentications['token'].accessToken = token;
  return {
    tasks: new Asana.TasksApi(client),
    stories: new Asana.StoriesApi(client),
    sections: new Asana.SectionsApi(client),
  };
}
