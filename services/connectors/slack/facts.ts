/** What Lockstep knows about Slack besides the code that talks to it (types.ts PlatformFacts). */
import type { PlatformFacts } from '../types.ts';

/** The sandbox's card channel (#eng-sync in the Slack emulator's demo seed). */
export const SANDBOX_CHANNEL = 'C0ENGSYNC1';

export const slackFacts: PlatformFacts<'slack'> = {
  platform: 'slack',
  displayName: 'Slack',
  // chat.postMessage: about one message a second per channel; the method tiers (Tier 3, 50+ a
  // minute, for history and replies; 1 a minute for non-Marketplace apps since 2025) are not
  // metered apart: one budget of one request a second covers every call (README, Limits).
  rateLimit: { limit: 1, perMs: 1000 },
  secretHeaders: ['x-slack-signature'],
  // A card holds what its Block Kit shows; a thread reply is a comment.
  capabilities: {
    message: ['title', 'status', 'priority', 'assignee'],
    comment: ['body', 'author', 'createdAtMs'],
  },
  sandbox: {
    port: 17104,
    endpointKey: 'apiUrl',
    // The emulator's demo tokens and signing secret (test/emulators/slack seed.ts): they open
    // nothing real. The user token is the demo user Alice's (threads are read with a user token).
    credentials: {
      LOCKSTEP_SANDBOX_SLACK_BOT_TOKEN: 'xoxb-sandbox-lockstep-bot',
      LOCKSTEP_SANDBOX_SLACK_USER_TOKEN: 'xoxp-sandbox-alice',
      LOCKSTEP_SANDBOX_SLACK_SIGNING_SECRET: 'sandbox-slack-signing-secret',
    },
    webhookSecretEnv: 'LOCKSTEP_SANDBOX_SLACK_SIGNING_SECRET',
    section: (apiUrl) => ({
      botToken: { env: 'LOCKSTEP_SANDBOX_SLACK_BOT_TOKEN' },
      userToken: { env: 'LOCKSTEP_SANDBOX_SLACK_USER_TOKEN' },
      signingSecret: { env: 'LOCKSTEP_SANDBOX_SLACK_SIGNING_SECRET' },
      apiUrl,
      channels: [SANDBOX_CHANNEL],
      botUserId: 'U0LOCKBOT1',
    }),
    side: { workspace: SANDBOX_CHANNEL, describe: 'Slack channel #eng-sync (cards)', entityType: 'message' },
    pointWebhook: pointEmulatorRequestUrl,
    status: { channel: '#eng-sync', channelId: SANDBOX_CHANNEL },
  },
};

/**
 * Slack's Request URL is an app setting; the emulator's app settings are its seed (test
 * infrastructure: `POST /_emulator/seed {app: {requestUrl}}`, README of test/emulators/slack). The
 * emulator then sends a signed url_verification, which ingest answers; this waits until it has.
 */
async function pointEmulatorRequestUrl(apiUrl: string, url: string): Promise<void> {
  const seeded = await fetch(new URL('/_emulator/seed', apiUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ app: { requestUrl: url } }),
  });
  if (!seeded.ok) throw new Error(`setting the Slack emulator's Request URL: HTTP ${seeded.status}`);
  // The handshake takes one request; 30 s is a generous bound on a loaded machine.
  const deadline = Date.now() + 30_000;
  let status = 'pending';
  while (Date.now() < deadline) {
    const state = (await (await fetch(new URL('/_emulator/state', apiUrl))).json()) as {
      app?: { requestUrlStatus?: string; requestUrlProblem?: string | null };
    };
    status = state.app?.requestUrlStatus ?? 'unknown';
    if (status === 'verified') return;
    if (status === 'failed')
      throw new Error(
        `Slack emulator's url_verification of ${url} failed: ${state.app?.requestUrlProblem ?? '?'}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `Slack emulator's url_verification of ${url} did not finish within 30 s (status ${status})`,
  );
}
