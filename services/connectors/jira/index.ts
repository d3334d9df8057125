/** The Jira Cloud connector: the folder's only export. See README.md for scopes, setup and quirks. */
import { z } from 'zod';
import { defineConnector } from '../types.ts';
import { jiraFacts, withFlowStatusCategories } from './facts.ts';
import { createJiraApplier } from './apply.ts';
import { jiraConfigSchema } from './config.ts';
import { classifyJiraError } from './errors.ts';
import { jiraLabel } from './labels.ts';
import { jiraMentions } from './mentions.ts';
import { normalizeJira } from './normalize.ts';
import { createJiraPoller, jiraClient } from './poll.ts';
import { createJiraReader } from './read.ts';
import { verifyJira } from './verify.ts';

export const WEBHOOK_EVENTS = [
  'jira:issue_created',
  'jira:issue_updated',
  'jira:issue_deleted',
  'comment_created',
  'comment_updated',
  'comment_deleted',
];

export const jiraConnector = defineConnector({
  ...jiraFacts,
  configSchema: jiraConfigSchema,
  verify: (req, cfg) => verifyJira(req, cfg.webhookSecret.reveal()),
  normalize: normalizeJira,
  createPoller: createJiraPoller,
  createApplier: createJiraApplier,
  createReader: createJiraReader,
  classifyError: classifyJiraError,
  canonicalLabel: jiraLabel,
  mentions: jiraMentions,
  configureFromFlows: withFlowStatusCategories,

  /** An admin webhook (`POST /rest/webhooks/1.0/webhook`), the kind that supports `secret`. Needs Jira admin. */
  async registerWebhook({ config }, { url, secret }) {
    if (secret === null)
      throw new Error('registering a Jira webhook: a signing secret is needed (webhookSecret)');
    const res = await jiraClient(config).sendRequestFullResponse<unknown>({
      url: '/rest/webhooks/1.0/webhook',
      method: 'POST',
      data: {
        name: 'Lockstep',
        url,
        events: WEBHOOK_EVENTS,
        filters: {
          'issue-related-events-section': `project in (${config.projects.map((p) => `"${p}"`).join(', ')})`,
        },
        excludeBody: false,
        secret,
      },
    });
    // The response's `self` ends with the webhook id: …/rest/webhooks/1.0/webhook/42
    const self = z.object({ self: z.string() }).parse(res.data).self;
    return [{ id: self.slice(self.lastIndexOf('/') + 1), url }];
  },

  async resolveBotUserId({ config }) {
    if (config.botAccountId) return config.botAccountId;
    const me = await jiraClient(config).myself.getCurrentUser();
    return z.object({ accountId: z.string() }).parse(me).accountId;
  },
});
