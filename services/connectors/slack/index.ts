/** The Slack connector: the folder's only export. See README.md for scopes, app setup and quirks. */
import { z } from 'zod';
import { LockstepError } from '../../core/errors/index.ts';
import { defineConnector } from '../types.ts';
import { createSlackApplier } from './apply.ts';
import { slackClients } from './client.ts';
import { slackConfigSchema } from './config.ts';
import { classifySlackError, describeSlackError } from './errors.ts';
import { slackFacts } from './facts.ts';
import { normalizeSlack } from './normalize.ts';
import { createSlackPoller } from './poll.ts';
import { createSlackReader } from './read.ts';
import { handshakeSlack, verifySlack } from './verify.ts';

export const slackConnector = defineConnector({
  ...slackFacts,
  configSchema: slackConfigSchema,
  verify: (req, cfg) => verifySlack(req, cfg.signingSecret.reveal()),
  // url_verification, answered only when signed with the signing secret.
  handshake: (req, cfg) => handshakeSlack(req, cfg.signingSecret.reveal()),
  normalize: normalizeSlack,
  createPoller: createSlackPoller,
  createApplier: createSlackApplier,
  createReader: createSlackReader,
  classifyError: classifySlackError,
  describeError: describeSlackError,

  /**
   * Slack takes the Events API Request URL in the app's settings, not through an API: this says
   * what to set there. Once it is set, Slack sends a signed url_verification, which ingest answers.
   */
  async registerWebhook(_deps, { url }) {
    throw new LockstepError(
      `Slack's Events API Request URL is an app setting, not an API: in the app's settings (Event Subscriptions) set the Request URL to ${url} and subscribe to the bot events message.channels (and message.groups for private channels); Slack then sends a signed url_verification, which ingest answers`,
      { category: 'validation', retriable: false },
    );
  },

  async resolveBotUserId({ config }) {
    if (config.botUserId) return config.botUserId;
    const me = await slackClients(config).bot.auth.test();
    return z.object({ user_id: z.string() }).parse(me).user_id;
  },
});
