/**
 * The safety net behind the Events API (Slack retries a failed delivery three times over about
 * five minutes, then drops it): reads the replies in card threads that arrived since the last
 * poll. Slack's history lists parents only, by their own ts, so the poll walks the channel's
 * cards (posted within CARD_WINDOW of the mark) and reads the thread of each whose
 * `latest_reply` is past the mark, with the user token.
 *
 * What it does not catch (README, Limitations): an edit or a deletion whose event was dropped
 * (neither moves `latest_reply`), and replies under cards older than CARD_WINDOW.
 *
 * Cursor: `{ since, seen }`: the newest reply ts seen, and the replies at most OVERLAP_S older
 * than it (read again next time, in case Slack's clock placed a late one there), so they are not
 * emitted twice. Every page is read before the cursor moves.
 */
import { z } from 'zod';
import type { ChangeEvent } from '../../../schemas/generated/types.ts';
import type { ConnectorDeps, JsonValue, Poller, PollResult, RejectedItem } from '../types.ts';
import { slackClients } from './client.ts';
import type { SlackConfig } from './config.ts';
import { messageId, messageSchema } from './model.ts';
import { isCard, messageEvent } from './normalize.ts';
import { slackPages } from './read.ts';

/** Replies this much older than the mark are read again (and deduped by `seen`). */
export const OVERLAP_S = 60;
/** Cards posted this long before the mark are still read for new replies. */
export const CARD_WINDOW_S = 30 * 24 * 3600;

const cursorSchema = z.object({ since: z.string(), seen: z.array(z.string()).default([]) });

const num = (ts: string): number => Number(ts);
const fmt = (s: number): string => Math.max(0, s).toFixed(6);

export function createSlackPoller(deps: ConnectorDeps<SlackConfig>): Poller {
  const cfg = deps.config;
  const now = deps.now ?? Date.now;
  const { reader } = slackClients(cfg, deps.budget);

  return {
    async poll(raw: JsonValue | null): Promise<PollResult> {
      const cursor = raw === null ? { since: cfg.pollSince, seen: [] } : cursorSchema.parse(raw);
      const mark = num(cursor.since);
      const from = Math.max(mark - OVERLAP_S, num(cfg.pollSince));
      const seen = new Set(cursor.seen);
      const events: ChangeEvent[] = [];
      const rejected: RejectedItem[] = [];
      let newest = mark;
      const kept: { key: string; ts: number }[] = [];

      for (const channel of cfg.channels) {
        const cardsFrom = Math.max(num(cfg.pollSince), mark - CARD_WINDOW_S);
        for await (const card of slackPages((cursor) =>
          reader.conversations.history({
            channel,
            oldest: fmt(cardsFrom),
            limit: cfg.pageSize,
            include_all_metadata: true,
            ...(cursor && { cursor }),
          }),
        )) {
          if (!isCard(card) || !card.latest_reply || num(card.latest_reply) < from) continue;
          for await (const item of slackPages((cursor) =>
            reader.conversations.replies({
              channel,
              ts: card.ts,
              oldest: fmt(from),
              limit: cfg.pageSize,
              include_all_metadata: true,
              ...(cursor && { cursor }),
            }),
          )) {
            const m = messageSchema.safeParse(item);
            if (!m.success) {
              rejected.push({ id: null, raw: item, reason: m.error.message });
              continue;
            }
            const reply = m.data;
            if (reply.ts === card.ts || num(reply.ts) < from) continue;
            const key = `${messageId(channel, reply.ts)}@${reply.edited?.ts ?? reply.ts}`;
            const ts = num(reply.ts);
            if (ts >= newest - OVERLAP_S) kept.push({ key, ts });
            newest = Math.max(newest, ts);
            if (seen.has(key)) continue;
            const ev = messageEvent(reply, 'c', reply.user ?? null, {
              channel,
              via: 'poll',
              deliveryId: null,
              nowMs: now(),
              botUserId: cfg.botUserId ?? deps.botUserId,
            });
            if (ev) events.push(ev);
          }
        }
      }
      const keep = [...new Set(kept.filter((k) => k.ts >= newest - OVERLAP_S).map((k) => k.key))];
      return { events, cursor: { since: fmt(newest), seen: keep }, caughtUp: true, rejected };
    },
  };
}
