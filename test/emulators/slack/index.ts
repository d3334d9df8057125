/** The Slack emulator (test infrastructure, not Slack): factory, starter and demo data. */
import { startEmulator, type RunningEmulator } from '../common/server.ts';
import { createSlackEmulator, type SlackEmulator } from './emulator.ts';
import { demoSeed, type SlackSeed } from './seed.ts';

export { createSlackEmulator, SlackEmulator } from './emulator.ts';
export type { SlackChannel, SlackMessage, SlackUser, VerificationStatus } from './emulator.ts';
export { demoSeed, DEMO_TOKENS } from './seed.ts';
export type { SlackSeed, SeedUser, SeedChannel, SeedMessage } from './seed.ts';

export interface RunningSlackEmulator extends RunningEmulator {
  /** The platform object, e.g. `slack.verified()` to await the Request URL handshake. */
  slack: SlackEmulator;
  /** The Web API base URL for `new WebClient(token, { slackApiUrl })`. */
  apiUrl: string;
}

export async function startSlackEmulator(
  opts: { port?: number; webhookTimeScale?: number; seed?: SlackSeed } = {},
): Promise<RunningSlackEmulator> {
  const slack = createSlackEmulator();
  const running = await startEmulator(slack, { port: opts.port, webhookTimeScale: opts.webhookTimeScale });
  if (opts.seed) slack.seed(opts.seed, running.kit);
  return { ...running, slack, apiUrl: `${running.url}/api/` };
}

export { demoSeed as slackDemoSeed };
