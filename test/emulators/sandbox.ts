/**
 * The sandbox: the four platform EMULATORS (test infrastructure, not Linear, Jira, Asana or
 * Slack) on fixed local ports, each seeded with its demo data, so the pipeline can be seen
 * working without accounts. Nothing here reaches a real platform.
 */
import type { RunningEmulator } from './common/server.ts';
import { demoSeed as asanaDemoSeed, startAsanaEmulator } from './asana/index.ts';
import { demoSeed as jiraDemoSeed, startJiraEmulator } from './jira/index.ts';
import { demoSeed as linearDemoSeed, startLinearEmulator } from './linear/index.ts';
import { demoSeed as slackDemoSeed, startSlackEmulator } from './slack/index.ts';

export const SANDBOX_NOTICE =
  'EMULATORS with demo data: these are local stand-ins for Linear, Jira, Asana and Slack, not the real platforms.';

export const DEFAULT_SANDBOX_PORTS = { linear: 17101, jira: 17102, asana: 17103, slack: 17104 } as const;

export type SandboxPlatform = keyof typeof DEFAULT_SANDBOX_PORTS;

/**
 * What `.lockstep/sandbox.json` holds: the base URL each official SDK is pointed at (the key is
 * the platform's `sandbox.endpointKey`, registry.test.ts checks they agree). A type, not an
 * interface, so it is assignable to the platform-blind record services/app/sandbox-config.ts reads.
 */
export type SandboxEndpoints = {
  linear: { apiUrl: string };
  jira: { baseUrl: string };
  asana: { baseUrl: string };
  slack: { apiUrl: string };
};

export interface RunningSandbox {
  endpoints: SandboxEndpoints;
  /** Each emulator's root URL (its control API is under `/_emulator/`). */
  roots: Record<SandboxPlatform, string>;
  emulators: Record<SandboxPlatform, RunningEmulator>;
  close(): Promise<void>;
}

export interface SandboxOptions {
  ports?: Partial<Record<SandboxPlatform, number>>;
  /** Multiplies the platforms' webhook retry delays; 1 (real time) by default. */
  webhookTimeScale?: number;
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<RunningSandbox> {
  const ports = { ...DEFAULT_SANDBOX_PORTS, ...opts.ports };
  const common = { webhookTimeScale: opts.webhookTimeScale ?? 1 };
  const started: RunningEmulator[] = [];
  try {
    const linear = await startLinearEmulator({ ...common, port: ports.linear, seed: linearDemoSeed() });
    started.push(linear);
    const jira = await startJiraEmulator({ ...common, port: ports.jira, seed: jiraDemoSeed() });
    started.push(jira);
    const asana = await startAsanaEmulator({ ...common, port: ports.asana, seed: asanaDemoSeed() });
    started.push(asana);
    const slack = await startSlackEmulator({ ...common, port: ports.slack, seed: slackDemoSeed() });
    started.push(slack);
    return {
      endpoints: {
        linear: { apiUrl: `${linear.url}/graphql` },
        jira: { baseUrl: jira.url },
        asana: { baseUrl: asana.apiUrl },
        slack: { apiUrl: slack.apiUrl },
      },
      roots: { linear: linear.url, jira: jira.url, asana: asana.url, slack: slack.url },
      emulators: { linear, jira, asana, slack },
      async close() {
        await Promise.all(started.map((e) => e.close()));
      },
    };
  } catch (err) {
    // A port already taken (another sandbox running?) must not leave the others listening.
    await Promise.all(started.map((e) => e.close()));
    throw err;
  }
}
