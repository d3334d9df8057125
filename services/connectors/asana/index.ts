/** The Asana connector: the folder's only export. See README.md for scopes, setup and quirks. */
import { z } from 'zod';
import { defineConnector } from '../types.ts';
import { createAsanaApplier } from './apply.ts';
import { asanaApis } from './client.ts';
import { asanaConfigSchema } from './config.ts';
import { classifyAsanaError, describeAsanaError } from './errors.ts';
import { expandWebhook } from './expand.ts';
import { asanaFacts, withFlowStatusCategories } from './facts.ts';
import { normalizeAsana } from './normalize.ts';
import { createAsanaPoller } from './poll.ts';
import { createAsanaReader } from './read.ts';
import { handshakeAsana, verifyAsana } from './verify.ts';

/** The events a project webhook asks for: tasks and their stories (comments among them). */
export const WEBHOOK_FILTERS = [{ resource_type: 'task' }, { resource_type: 'story' }];

export const asanaConnector = defineConnector({
  ...asanaFacts,
  configSchema: asanaConfigSchema,
  verify: (req, cfg) =>
    verifyAsana(req, [...(req.learnedSecrets ?? []), ...cfg.webhookSecrets.map((s) => s.reveal())]),
  handshake: (req) => handshakeAsana(req),
  learnsSecrets: true,
  normalize: normalizeAsana,
  expand: expandWebhook,
  createPoller: createAsanaPoller,
  createApplier: createAsanaApplier,
  createReader: createAsanaReader,
  classifyError: classifyAsanaError,
  describeError: describeAsanaError,
  configureFromFlows: withFlowStatusCategories,
  startupWarnings: (config) =>
    config.priority ? [] : ['connectors.asana.priority is not set: priority is not synced with Asana'],

  /**
   * One webhook per configured project (`POST /webhooks`, scope `webhooks:write`). Asana
   * handshakes with ingest while this call is open and hands over the signing secret there, so
   * `secret` is not used (null): the caller holds ingest's registration window open
   * (services/ingest/register.ts), and ingest must be reachable at `url`.
   */
  async registerWebhook({ config }, { url }) {
    const { webhooks } = asanaApis(config);
    const out = [];
    for (const project of config.projects) {
      const res = (await webhooks.createWebhook({
        data: { resource: project, target: url, filters: WEBHOOK_FILTERS },
      })) as unknown;
      const gid = z.object({ data: z.object({ gid: z.string() }) }).parse(res).data.gid;
      out.push({ id: gid, url });
    }
    return out;
  },

  async resolveBotUserId({ config }) {
    if (config.botUserId) return config.botUserId;
    const me = (await asanaApis(config).users.getUser('me', { opt_fields: 'gid' })) as unknown;
    return z.object({ data: z.object({ gid: z.string() }) }).parse(me).data.gid;
  },
});
