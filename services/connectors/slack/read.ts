/**
 * One-record reads for `lockstep verify`, and the reads apply and poll share: a card from the
 * channel's history, a reply from its thread (with the user token: Slack lets bot tokens read
 * threads only in DMs), metadata included. Normalized by the same `messageEvent` as a webhook, as
 * a read (`op: 'r'`). A message that is gone reads as not found, with Slack's words.
 */
import type { WebClient } from '@slack/web-api';
import { z } from 'zod';
import type { ConnectorDeps, EntityRef, Reader } from '../types.ts';
import { slackClients } from './client.ts';
import type { SlackConfig } from './config.ts';
import { messageSchema, parseMessageId, type SlackMessage } from './model.ts';
import { messageEvent } from './normalize.ts';

export const pageSchema = z
  .object({
    messages: z.array(messageSchema).default([]),
    has_more: z.boolean().optional(),
    response_metadata: z.object({ next_cursor: z.string().optional() }).loose().optional(),
  })
  .loose();

/** One message by ts: a parent from the channel's history, a reply from the thread of `threadTs`; null when gone. */
export async function readSlackMessage(
  reader: WebClient,
  channel: string,
  ts: string,
  threadTs: string | null,
): Promise<SlackMessage | null> {
  const window = { oldest: ts, latest: ts, inclusive: true, include_all_metadata: true };
  let res: unknown;
  try {
    res = threadTs
      ? await reader.conversations.replies({ channel, ts: threadTs, limit: 2, ...window })
      : await reader.conversations.history({ channel, limit: 1, ...window });
  } catch (err) {
    // The parent of a reply is gone, so is the reply.
    if ((err as { data?: { error?: string } }).data?.error === 'thread_not_found') return null;
    throw err;
  }
  return pageSchema.parse(res).messages.find((m) => m.ts === ts) ?? null;
}

/** Every message of a paged history or replies call. */
export async function* slackPages(
  call: (cursor: string | undefined) => Promise<unknown>,
): AsyncGenerator<SlackMessage> {
  let cursor: string | undefined;
  do {
    const p = pageSchema.parse(await call(cursor));
    yield* p.messages;
    cursor = p.has_more ? p.response_metadata?.next_cursor || undefined : undefined;
  } while (cursor);
}

export function createSlackReader(deps: ConnectorDeps<SlackConfig>): Reader {
  const cfg = deps.config;
  const now = deps.now ?? Date.now;
  const { reader } = slackClients(cfg, deps.budget);
  return {
    async read(ref: EntityRef, source) {
      const at = parseMessageId(ref.entityId);
      if (!at) return { found: false, detail: `${ref.entityId} is not a Slack message id (<channel>:<ts>)` };
      const parent = ref.parentId ? parseMessageId(ref.parentId) : null;
      if (ref.entityType === 'comment' && !parent)
        return { found: false, detail: `reply ${ref.entityId} has no card (parentId) to read it under` };
      const m = await readSlackMessage(reader, at.channel, at.ts, parent?.ts ?? null);
      if (!m) return { found: false, detail: `Slack has no message ${at.ts} in channel ${at.channel}` };
      const event = messageEvent(m, 'r', m.edited?.user ?? m.user ?? null, {
        channel: at.channel,
        via: source.via,
        deliveryId: source.deliveryId,
        nowMs: now(),
        botUserId: cfg.botUserId ?? deps.botUserId,
      });
      if (!event)
        return { found: false, detail: `message ${at.ts} in ${at.channel} is not a card or a reply` };
      return { found: true, event };
    },
  };
}
