/** The Slack emulator's seed document, and the demo data the sandbox and end-to-end tests share. */

export interface SlackSeed {
  team?: { id?: string; name?: string; domain?: string };
  /**
   * What real Slack keeps in the app's settings page: setting `requestUrl` makes the emulator send
   * `url_verification` to it, as saving the Request URL does on Slack; events flow once the
   * challenge is echoed. `verificationToken` is the deprecated token echoed in every envelope.
   */
  app?: {
    id?: string;
    requestUrl?: string | null;
    signingSecret?: string;
    verificationToken?: string;
    /**
     * Slack documents that bot tokens cannot read threads in public/private channels with
     * conversations.replies (only DMs and group DMs). Default false = that documented behaviour.
     */
    botCanReadChannelThreads?: boolean;
  };
  users?: SeedUser[];
  channels?: SeedChannel[];
  messages?: SeedMessage[];
}

export interface SeedUser {
  id: string;
  name: string;
  realName?: string;
  email?: string | null;
  tokens?: string[];
  /** The app's bot user; `botId` is its B… id. */
  isBot?: boolean;
  botId?: string;
}

export interface SeedChannel {
  id: string;
  name: string;
  type?: 'public' | 'private' | 'im' | 'mpim';
}

export interface SeedMessage {
  channel: string;
  user: string;
  text: string;
  ts?: string;
  threadTs?: string;
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  /** Stored as given (seeds are not checked against Block Kit). */
  blocks?: Record<string, unknown>[];
}

export const DEMO_TOKENS = {
  bot: 'xoxb-sandbox-lockstep-bot',
  alice: 'xoxp-sandbox-alice',
  bob: 'xoxp-sandbox-bob',
  carol: 'xoxp-sandbox-carol',
} as const;

/** Sandbox demo data: three people (shared by email across the four emulators) and the bot. */
export function demoSeed(): SlackSeed {
  return {
    team: { id: 'T0SANDBOX1', name: 'Lockstep Sandbox (emulated Slack)', domain: 'lockstep-sandbox' },
    app: {
      id: 'A0LOCKSTEP',
      signingSecret: 'sandbox-slack-signing-secret',
      verificationToken: 'sandbox-verification-token',
    },
    users: [
      {
        id: 'U0ALICE001',
        name: 'alice',
        realName: 'Alice Example',
        email: 'alice@example.com',
        tokens: [DEMO_TOKENS.alice],
      },
      {
        id: 'U0BOB00001',
        name: 'bob',
        realName: 'Bob Example',
        email: 'bob@example.com',
        tokens: [DEMO_TOKENS.bob],
      },
      {
        id: 'U0CAROL001',
        name: 'carol',
        realName: 'Carol Example',
        email: 'carol@example.com',
        tokens: [DEMO_TOKENS.carol],
      },
      {
        id: 'U0LOCKBOT1',
        name: 'lockstep',
        realName: 'Lockstep',
        email: null,
        tokens: [DEMO_TOKENS.bot],
        isBot: true,
        botId: 'B0LOCKBOT1',
      },
    ],
    channels: [
      { id: 'C0SANDBOX1', name: 'lockstep-demo', type: 'public' },
      { id: 'C0SANDBOX2', name: 'eng-triage', type: 'public' },
      // The sandbox demo flow posts its cards here.
      { id: 'C0ENGSYNC1', name: 'eng-sync', type: 'public' },
    ],
    messages: [
      { channel: 'C0SANDBOX1', user: 'U0ALICE001', text: 'Checkout page times out on Safari (demo data)' },
      { channel: 'C0SANDBOX1', user: 'U0BOB00001', text: 'Add dark mode to the settings screen (demo data)' },
    ],
  };
}
