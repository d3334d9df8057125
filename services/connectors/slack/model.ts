/**
 * What Lockstep reads from Slack, as zod schemas (lenient where Slack may add fields, strict where
 * Lockstep depends on a value), and the card's state as Lockstep keeps it in the card's metadata.
 */
import { z } from 'zod';
import type {
  EntityState,
  Person,
  Priority,
  Status,
  StatusCategory,
} from '../../../schemas/generated/types.ts';
import { entityState } from '../types.ts';

/** `event_type` of a card message's metadata (one card per linked item). */
export const CARD_EVENT_TYPE = 'lockstep_card';
/** `event_type` of a thread reply Lockstep posted for a comment made elsewhere. */
export const REPLY_EVENT_TYPE = 'lockstep_reply';
/** `event_type` of a status reply (connectors.slack.statusReplies): never synced anywhere. */
export const STATUS_EVENT_TYPE = 'lockstep_status';

/** A Slack timestamp: seconds since the epoch with six decimals, the message's id in its channel. */
export const tsSchema = z.string().regex(/^\d+\.\d+$/, 'must be a Slack ts ("<seconds>.<micro>")');

export const metadataSchema = z.object({
  event_type: z.string(),
  event_payload: z.record(z.string(), z.unknown()).default({}),
});

export const messageSchema = z
  .object({
    type: z.string().optional(),
    subtype: z.string().optional(),
    user: z.string().optional(),
    bot_id: z.string().optional(),
    text: z.string().default(''),
    ts: tsSchema,
    thread_ts: tsSchema.optional(),
    edited: z.object({ user: z.string().optional(), ts: tsSchema }).optional(),
    metadata: metadataSchema.optional(),
    reply_count: z.number().optional(),
    latest_reply: tsSchema.optional(),
  })
  .loose();
export type SlackMessage = z.infer<typeof messageSchema>;

/** The `event` of an `event_callback` envelope that Lockstep reads: message events in a channel. */
export const messageEventSchema = z
  .object({
    type: z.literal('message'),
    subtype: z.string().optional(),
    channel: z.string(),
    user: z.string().optional(),
    text: z.string().optional(),
    ts: tsSchema,
    thread_ts: tsSchema.optional(),
    event_ts: z.string().optional(),
    edited: z.object({ user: z.string().optional(), ts: tsSchema }).optional(),
    metadata: metadataSchema.optional(),
    message: messageSchema.optional(),
    previous_message: messageSchema.optional(),
    deleted_ts: tsSchema.optional(),
  })
  .loose();
export type SlackMessageEvent = z.infer<typeof messageEventSchema>;

export const envelopeSchema = z
  .object({
    type: z.literal('event_callback'),
    event_id: z.string().min(1),
    event_time: z.number().optional(),
    team_id: z.string().optional(),
    event: z.object({ type: z.string() }).loose(),
  })
  .loose();

/** `<channel>:<ts>`: a message's id in Lockstep (a ts is unique only within its channel). */
export function messageId(channel: string, ts: string): string {
  return `${channel}:${ts}`;
}

/** The channel and ts of a message id, or null when `id` is not one. */
export function parseMessageId(id: string): { channel: string; ts: string } | null {
  const m = /^([A-Z0-9]+):(\d+\.\d+)$/.exec(id);
  return m ? { channel: m[1]!, ts: m[2]! } : null;
}

/** The fields a card holds (what its metadata records and normalize reports). */
export const CARD_FIELDS = ['title', 'status', 'priority', 'assignee'] as const;
export type CardField = (typeof CARD_FIELDS)[number];

const CATEGORIES: readonly StatusCategory[] = ['backlog', 'todo', 'in_progress', 'done', 'canceled'];
const PRIORITIES: readonly Priority[] = ['none', 'low', 'medium', 'high', 'urgent'];

/**
 * A card's metadata payload: flat string values (Slack's metadata takes JSON, flat keys keep it
 * readable in Slack's own tools), `known` naming the fields the card holds a value for.
 */
export interface CardPayload {
  /** The create marker (the link id); '' for none (metadata values cannot be null). */
  marker: string;
  known: string;
  title?: string;
  status?: string;
  status_category?: string;
  priority?: string;
  assignee_email?: string;
  assignee_id?: string;
  assignee_name?: string;
}

export function cardPayload(state: EntityState, marker: string | null): CardPayload {
  const known = CARD_FIELDS.filter((f) => state.known.includes(f));
  const p: CardPayload = { marker: marker ?? '', known: known.join(',') };
  if (known.includes('title') && state.title !== null) p.title = state.title;
  if (known.includes('status') && state.status) {
    p.status = state.status.name;
    p.status_category = state.status.category;
  }
  if (known.includes('priority') && state.priority !== null) p.priority = state.priority;
  if (known.includes('assignee') && state.assignee) {
    if (state.assignee.email) p.assignee_email = state.assignee.email;
    if (state.assignee.platformUserId) p.assignee_id = state.assignee.platformUserId;
    if (state.assignee.displayName) p.assignee_name = state.assignee.displayName;
  }
  return p;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** The state a card's metadata records (only the fields in its `known`). */
export function cardState(payload: Record<string, unknown>): Partial<Omit<EntityState, 'known'>> {
  const known = new Set((str(payload['known']) ?? '').split(',').filter((f) => f !== ''));
  const out: Partial<Omit<EntityState, 'known'>> = {};
  if (known.has('title')) out.title = str(payload['title']);
  if (known.has('status')) {
    const name = str(payload['status']);
    const category = str(payload['status_category']) as StatusCategory | null;
    out.status =
      name && category && CATEGORIES.includes(category) ? ({ name, category } satisfies Status) : null;
  }
  if (known.has('priority')) {
    const p = str(payload['priority']) as Priority | null;
    out.priority = p && PRIORITIES.includes(p) ? p : null;
  }
  if (known.has('assignee')) {
    const email = str(payload['assignee_email']);
    const id = str(payload['assignee_id']);
    const name = str(payload['assignee_name']);
    out.assignee =
      email || id || name ? ({ email, platformUserId: id, displayName: name } satisfies Person) : null;
  }
  return out;
}

/** A card's full state from its metadata. */
export function cardEntityState(payload: Record<string, unknown>): EntityState {
  return entityState(cardState(payload));
}
