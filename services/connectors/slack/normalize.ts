/**
 * Slack Events API → ChangeEvent[] (pure). Lockstep reads two kinds of message in a configured
 * channel: its own card messages (entityType `message`, state in the card's metadata, so their
 * events are Lockstep's echoes) and thread replies under them (entityType `comment`). A person's
 * top-level message is not an item and yields nothing (creating an item from a message is not
 * built yet: README, Limitations).
 *
 * Who acted: a new message's `user`; for `message_changed`, the editor inside the nested
 * `message` (`edited.user`, else its author), never the envelope's top level, which names no
 * editor: a filter on the top-level `user` lets a bot's own edits loop (PLATFORMS.md §5).
 */
import type { ChangeEvent, EntityState, Op, Person } from '../../../schemas/generated/types.ts';
import { LockstepError } from '../../core/errors/index.ts';
import { isLockstepNote } from '../kit/notes.ts';
import { deterministicEventId, entityState, type NormalizeContext } from '../types.ts';
import type { SlackConfig } from './config.ts';
import { mrkdwnToMarkdown } from './mrkdwn.ts';
import {
  CARD_EVENT_TYPE,
  REPLY_EVENT_TYPE,
  STATUS_EVENT_TYPE,
  cardEntityState,
  envelopeSchema,
  messageEventSchema,
  messageId,
  type SlackMessage,
} from './model.ts';

export const PLATFORM = 'slack';

/** Message subtypes that are a person's (or an app's) message; others (joins, topics …) are not synced. */
const MESSAGE_SUBTYPES = new Set([undefined, 'bot_message', 'thread_broadcast', 'me_message', 'file_share']);

function invalid(what: string, err: unknown): LockstepError {
  const detail = err instanceof Error ? err.message : String(err);
  return new LockstepError(`normalizing Slack ${what}: ${detail}`, { category: 'validation' });
}

/** A Slack ts as epoch ms. */
export function tsMs(ts: string): number {
  return Math.round(Number(ts) * 1000);
}

/** Our attribution line at the top of a reply Lockstep posted, which is not the comment's text. */
function stripAttribution(text: string, payload: Record<string, unknown>): string {
  if (payload['attributed'] !== '1') return text;
  const nl = text.indexOf('\n');
  return nl < 0 ? '' : text.slice(nl + 1);
}

/** A reply's comment state: body as markdown, author by Slack user id (events name no email). */
export function replyState(m: SlackMessage): EntityState {
  const payload = m.metadata?.event_type === REPLY_EVENT_TYPE ? m.metadata.event_payload : {};
  const author: Person | null = m.user ? { email: null, platformUserId: m.user, displayName: null } : null;
  return entityState({
    body: mrkdwnToMarkdown(stripAttribution(m.text, payload)),
    author,
    createdAtMs: tsMs(m.ts),
  });
}

export function isReply(m: Pick<SlackMessage, 'ts' | 'thread_ts'>): boolean {
  return m.thread_ts !== undefined && m.thread_ts !== m.ts;
}

export function isCard(m: Pick<SlackMessage, 'metadata'>): boolean {
  return m.metadata?.event_type === CARD_EVENT_TYPE;
}

/** The marker a message of ours carries in its metadata, or null. */
export function markerOf(m: Pick<SlackMessage, 'metadata'>): string | null {
  const t = m.metadata?.event_type;
  if (t !== CARD_EVENT_TYPE && t !== REPLY_EVENT_TYPE) return null;
  const marker = m.metadata?.event_payload['marker'];
  return typeof marker === 'string' && marker !== '' ? marker : null;
}

export interface MessageContext {
  channel: string;
  via: ChangeEvent['source']['via'];
  deliveryId: string | null;
  nowMs: number;
  botUserId: string | null;
}

/**
 * One message as the event it makes (`op` c for a new one, u for an edit, r for a read), or null
 * when it is not synced: a person's top-level message, a status reply, a Lockstep note.
 */
export function messageEvent(
  m: SlackMessage,
  op: Op,
  actor: string | null,
  c: MessageContext,
): ChangeEvent | null {
  const reply = isReply(m);
  if (!reply && !isCard(m)) return null;
  if (m.metadata?.event_type === STATUS_EVENT_TYPE) return null;
  if (reply && isLockstepNote(m.text, m.user, c.botUserId)) return null;
  const entityType = reply ? 'comment' : 'message';
  const entityId = messageId(c.channel, m.ts);
  const after = reply ? replyState(m) : cardEntityState(m.metadata!.event_payload);
  const version = m.edited?.ts ?? m.ts;
  return {
    eventId: deterministicEventId({ platform: PLATFORM, entityType, entityId, version, deleted: false }),
    op,
    before: null,
    after,
    source: {
      platform: PLATFORM,
      workspace: c.channel,
      entityType,
      entityId,
      entityKey: null,
      parentId: reply ? messageId(c.channel, m.thread_ts!) : null,
      via: c.via,
      deliveryId: c.deliveryId,
      actor: actor ? { email: null, platformUserId: actor, displayName: null } : null,
      actorIsLockstep: actor !== null && actor === c.botUserId,
      marker: markerOf(m),
      version,
      tsMs: tsMs(version),
    },
    changedFields: after.known.filter((k) => k !== 'createdAtMs' && k !== 'author'),
    tsMs: c.nowMs,
  };
}

function deletedEvent(prev: SlackMessage, c: MessageContext): ChangeEvent | null {
  const reply = isReply(prev);
  if (!reply && !isCard(prev)) return null;
  const entityType = reply ? 'comment' : 'message';
  const entityId = messageId(c.channel, prev.ts);
  return {
    eventId: deterministicEventId({
      platform: PLATFORM,
      entityType,
      entityId,
      version: prev.ts,
      deleted: true,
    }),
    op: 'd',
    before: null,
    after: null,
    source: {
      platform: PLATFORM,
      workspace: c.channel,
      entityType,
      entityId,
      entityKey: null,
      parentId: reply ? messageId(c.channel, prev.thread_ts!) : null,
      via: c.via,
      deliveryId: c.deliveryId,
      // Slack's message_deleted names no deleter.
      actor: null,
      actorIsLockstep: false,
      marker: markerOf(prev),
      version: prev.ts,
      tsMs: c.nowMs,
    },
    changedFields: [],
    tsMs: c.nowMs,
  };
}

export function normalizeSlack(payload: unknown, ctx: NormalizeContext<SlackConfig>): ChangeEvent[] {
  const type = (payload as { type?: unknown } | null)?.type;
  // url_verification is answered by the handshake; app_rate_limited and others carry no change.
  if (type !== 'event_callback') {
    if (typeof type !== 'string') throw invalid('payload', 'no `type`');
    return [];
  }
  const env = envelopeSchema.safeParse(payload);
  if (!env.success) throw invalid('event_callback envelope', env.error);
  if (env.data.event.type !== 'message') return [];
  const e = messageEventSchema.safeParse(env.data.event);
  if (!e.success) throw invalid(`message event ${env.data.event_id}`, e.error);
  const ev = e.data;
  if (!ctx.config.channels.includes(ev.channel)) return [];
  const c: MessageContext = {
    channel: ev.channel,
    via: ctx.via,
    deliveryId: ctx.deliveryId,
    nowMs: ctx.nowMs,
    botUserId: ctx.config.botUserId ?? ctx.botUserId,
  };
  if (ev.subtype === 'message_changed') {
    if (!ev.message) throw invalid(`message_changed ${env.data.event_id}`, 'no `message`');
    const m = ev.message;
    const out = messageEvent(m, 'u', m.edited?.user ?? m.user ?? null, c);
    return out ? [out] : [];
  }
  if (ev.subtype === 'message_deleted') {
    if (!ev.previous_message) return []; // nothing Lockstep can place
    const out = deletedEvent(ev.previous_message, c);
    return out ? [out] : [];
  }
  if (!MESSAGE_SUBTYPES.has(ev.subtype)) return [];
  const m: SlackMessage = { ...ev, text: ev.text ?? '' };
  const out = messageEvent(m, 'c', ev.user ?? null, c);
  return out ? [out] : [];
}
