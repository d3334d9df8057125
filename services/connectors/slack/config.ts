import { z } from 'zod';
import { secret } from '../../core/config/index.ts';

/**
 * `connectors.slack` in lockstep.yaml. Secrets by reference: `botToken: { env: SLACK_BOT_TOKEN }`.
 * A flow side `{ platform: slack, workspace: <channel id>, entityType: message }` keeps one card
 * message per linked item in that channel; the channel must be listed in `channels`.
 */
export const slackConfigSchema = z
  .object({
    /** The app's bot token (`xoxb-…`, scope `chat:write`): cards and thread replies are posted as the bot. */
    botToken: secret(),
    /**
     * A user token of the app (`xoxp-…`, user scopes `channels:history`, `groups:history`) for
     * reading threads: Slack lets a bot token read thread replies only in DMs, so finding a reply
     * whose answer was lost, polling threads and `lockstep verify` read with this token.
     */
    userToken: secret(),
    /** The app's signing secret (Basic Information → App Credentials): `X-Slack-Signature` v0. */
    signingSecret: secret(),
    /** Override for tests and the sandbox (the Web API base, ending in `/api/`). */
    apiUrl: z.url().default('https://slack.com/api/'),
    /** Channel ids (C…/G…) that hold cards: polled, and the only channels events are accepted from. */
    channels: z.array(z.string().regex(/^[CG][A-Z0-9]{2,}$/, 'must be a Slack channel id (C… or G…)')).min(1),
    /** The bot's user id (U…); when null it is resolved at start through `auth.test`. */
    botUserId: z.string().min(1).nullable().default(null),
    /**
     * Post a thread reply on the card when an item's status changes (`Status: In Progress`).
     * Off by default: the card itself shows the status, and a reply per change is the firehose
     * teams turn other integrations off for.
     */
    statusReplies: z.boolean().default(false),
    /** Where a first poll starts (seconds since the epoch, as Slack's `oldest`). */
    pollSince: z
      .string()
      .regex(/^\d+(\.\d+)?$/, 'must be a Slack timestamp (seconds since the epoch)')
      .default('0'),
    /** Messages per page of `conversations.history` / `conversations.replies` (Slack: 1–999; 15 for non-Marketplace apps). */
    pageSize: z.number().int().min(1).max(999).default(100),
    /** Every API request is abandoned (and retried as a network error) after this long without an answer. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
  })
  .strict();

export type SlackConfig = z.output<typeof slackConfigSchema>;
