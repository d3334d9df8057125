/** The Linear connector: the folder's only export. See README.md for scopes, setup and quirks. */
import { linearClient } from './client.ts';
import { z } from 'zod';
import { LockstepError } from '../../core/errors/index.ts';
import { defineConnector } from '../types.ts';
import { linearFacts } from './facts.ts';
import { createLinearApplier } from './apply.ts';
import { linearConfigSchema } from './config.ts';
import { classifyLinearError } from './errors.ts';
import { normalizeLinear } from './normalize.ts';
import { readLinearLinks } from './links.ts';
import { createLinearPoller } from './poll.ts';
import { createLinearReader } from './read.ts';
import { verifyLinear } from './verify.ts';

export const linearConnector = defineConnector({
  ...linearFacts,
  configSchema: linearConfigSchema,
  verify: (req, cfg) => verifyLinear(req, cfg.webhookSecret.reveal(), cfg.replayWindowMs),
  normalize: normalizeLinear,
  createPoller: createLinearPoller,
  createApplier: createLinearApplier,
  createReader: createLinearReader,
  classifyError: classifyLinearError,
  readLinks: readLinearLinks,

  async registerWebhook({ config }, { url, secret }) {
    if (secret === null)
      throw new Error('registering a Linear webhook: a signing secret is needed (webhookSecret)');
    const client = linearClient(config);
    const base = { url, secret, resourceTypes: ['Issue', 'Comment'], label: 'Lockstep' };
    let inputs: Record<string, unknown>[] = [{ ...base, allPublicTeams: true }];
    if (config.teams.length) {
      const r = await client.client.rawRequest(
        `query LockstepTeams($filter: TeamFilter) { teams(filter: $filter) { nodes { id key } } }`,
        { filter: { key: { in: config.teams } } },
      );
      const teams = z
        .object({ teams: z.object({ nodes: z.array(z.object({ id: z.string(), key: z.string() })) }) })
        .parse(r.data).teams.nodes;
      const missing = config.teams.filter((k) => !teams.some((t) => t.key === k));
      if (missing.length)
        throw new LockstepError('registering linear webhook', {
          category: 'not_found',
          cause: `no team with key ${missing.join(', ')}`,
        });
      inputs = teams.map((t) => ({ ...base, teamId: t.id }));
    }
    const out = [];
    for (const input of inputs) {
      const r = await client.client.rawRequest(
        `mutation LockstepWebhook($input: WebhookCreateInput!) { webhookCreate(input: $input) { success webhook { id url } } }`,
        { input },
      );
      const w = z
        .object({
          webhookCreate: z.object({ webhook: z.object({ id: z.string(), url: z.string().nullish() }) }),
        })
        .parse(r.data);
      out.push({ id: w.webhookCreate.webhook.id, url: w.webhookCreate.webhook.url ?? url });
    }
    return out;
  },

  async resolveBotUserId({ config }) {
    if (config.botUserId) return config.botUserId;
    const client = linearClient(config);
    const r = await client.client.rawRequest(`query LockstepViewer { viewer { id } }`);
    return z.object({ viewer: z.object({ id: z.string() }) }).parse(r.data).viewer.id;
  },
});
