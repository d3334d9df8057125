/**
 * WriteCommand → Slack (`@slack/web-api`, client.ts). A flow side's workspace is a channel id.
 *
 * - `message` (the item's card): one bot message per linked item, Block Kit (title, status,
 *   assignee, priority), its values also in the message's metadata (`lockstep_card`, with the
 *   create marker), which is what normalize and the stale-base check read back. Created with
 *   `chat.postMessage`, kept current with `chat.update`, removed with `chat.delete`.
 * - `comment`: a reply in the card's thread, saying who wrote the original and where, with
 *   metadata `lockstep_reply` carrying the marker.
 *
 * A create looks for its marker first (the channel's history since the command, or the card's
 * thread), so a create whose answer was lost is found instead of posted twice. Threads are read
 * with the user token (Slack lets bot tokens read threads only in DMs).
 */
import { z } from 'zod';
import type { EntityState, Person, WriteCommand } from '../../../schemas/generated/types.ts';
import { LockstepError } from '../../core/errors/index.ts';
import { platformFacts } from '../registry.ts';
import {
  entityState,
  fieldsToWrite,
  staleFields,
  type Applier,
  type ApplyResult,
  type ConnectorDeps,
  type FoundTarget,
  type MarkerQuery,
} from '../types.ts';
import { slackClients } from './client.ts';
import { slackErrorCode } from './errors.ts';
import type { SlackConfig } from './config.ts';
import { markdownToMrkdwn, mrkdwnToMarkdown } from './mrkdwn.ts';
import {
  CARD_EVENT_TYPE,
  CARD_FIELDS,
  REPLY_EVENT_TYPE,
  STATUS_EVENT_TYPE,
  cardEntityState,
  cardPayload,
  messageId,
  messageSchema,
  parseMessageId,
} from './model.ts';
import { markerOf, replyState, tsMs } from './normalize.ts';
import { readSlackMessage, slackPages } from './read.ts';

/** Slack's clock may differ from the reconciler's that stamped the command: look this much earlier. */
const CLOCK_SKEW_MS = 10 * 60_000;
/** Block Kit: a header's text is at most 150 characters. */
const HEADER_MAX = 150;

const posted = z.object({ ts: z.string(), message: messageSchema.optional() }).loose();
/** `&`, `<` and `>` as Slack wants them in text it shows. */
const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function personText(p: Person | null): string {
  if (!p) return 'Unassigned';
  return p.displayName ?? p.email ?? p.platformUserId ?? 'someone';
}

const PRIORITY_TEXT: Record<string, string> = {
  none: 'No priority',
  low: 'Low',
  medium: 'Medium',
  high: 'High',
  urgent: 'Urgent',
};

/**
 * The card's Block Kit blocks and its notification text, from the values it holds. `assigneeUser`
 * is the assignee's Slack user id when one was found (shown as a mention, `<@U…>`); without it the
 * card shows their name or email as text.
 */
export function cardMessage(
  state: EntityState,
  assigneeUser: string | null = null,
): { text: string; blocks: unknown[] } {
  const title = state.title ?? '(untitled)';
  const header = title.length > HEADER_MAX ? `${title.slice(0, HEADER_MAX - 1)}…` : title;
  const field = (label: string, value: string) => ({ type: 'mrkdwn', text: `*${label}*\n${escape(value)}` });
  const fields = [];
  if (state.known.includes('status')) fields.push(field('Status', state.status?.name ?? 'None'));
  if (state.known.includes('assignee')) {
    fields.push(
      assigneeUser && state.assignee
        ? { type: 'mrkdwn', text: `*Assignee*\n<@${assigneeUser}>` }
        : field('Assignee', personText(state.assignee)),
    );
  }
  if (state.known.includes('priority'))
    fields.push(field('Priority', PRIORITY_TEXT[state.priority ?? 'none'] ?? 'No priority'));
  const blocks: unknown[] = [{ type: 'header', text: { type: 'plain_text', text: header } }];
  if (fields.length > 0) blocks.push({ type: 'section', fields });
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: 'Kept in step by Lockstep' }] });
  const status = state.status?.name;
  return { text: status ? `${title} — ${status}` : title, blocks };
}

function platformName(platform: string | null | undefined): string {
  if (!platform) return 'another tool';
  return platformFacts(platform)?.displayName ?? platform;
}

/** The first line of a reply Lockstep posts: who wrote the comment, and where. */
export function attribution(cmd: WriteCommand): string {
  const who = cmd.fields.known.includes('author') ? cmd.fields.author : (cmd.cause?.actor ?? null);
  const name = who?.displayName ?? who?.email ?? 'Someone';
  const where = platformName(cmd.cause?.platform);
  const key = cmd.cause?.entityKey ? ` (${cmd.cause.entityKey})` : '';
  return `*${escape(name)}* wrote on ${escape(where)}${key}:`;
}

function invalid(cmd: WriteCommand, cause: string): LockstepError {
  return new LockstepError(`applying ${cmd.commandId} to slack`, { category: 'validation', cause });
}

function notFound(what: string): LockstepError {
  return new LockstepError(`slack: ${what} not found`, { category: 'not_found', retriable: false });
}

function ids(cmd: WriteCommand, id: string | null): { channel: string; ts: string } {
  const parsed = id ? parseMessageId(id) : null;
  if (!parsed) throw invalid(cmd, `${JSON.stringify(id)} is not a Slack message id (<channel>:<ts>)`);
  return parsed;
}

/** The card's fields as an update leaves them: the current values, with the written ones replaced. */
function merged(current: EntityState, fields: EntityState, write: readonly string[]): EntityState {
  const values: Partial<Omit<EntityState, 'known'>> = {};
  for (const f of CARD_FIELDS) {
    if (write.includes(f)) values[f] = fields[f] as never;
    else if (current.known.includes(f)) values[f] = current[f] as never;
  }
  return entityState(values);
}

/** Only the fields a card holds, of a command's values. */
function cardFields(fields: EntityState): EntityState {
  const values: Partial<Omit<EntityState, 'known'>> = {};
  for (const f of CARD_FIELDS) if (fields.known.includes(f)) values[f] = fields[f] as never;
  return entityState(values);
}

export function createSlackApplier(deps: ConnectorDeps<SlackConfig>): Applier {
  const cfg = deps.config;
  const { bot, reader } = slackClients(cfg, deps.budget);

  /** Slack user ids by email (`users.lookupByEmail`, needs `users:read.email`); misses are kept 10 minutes. */
  const slackUsers = new Map<string, { id: string | null; atMs: number }>();
  const MISS_TTL_MS = 10 * 60_000;
  async function slackUserOf(p: Person | null): Promise<string | null> {
    if (!p) return null;
    if (p.platformUserId && /^[UW][A-Z0-9]{2,}$/.test(p.platformUserId)) return p.platformUserId;
    const email = p.email?.toLowerCase();
    if (!email) return null;
    const hit = slackUsers.get(email);
    if (hit && (hit.id !== null || Date.now() - hit.atMs < MISS_TTL_MS)) return hit.id;
    let id: string | null = null;
    try {
      const r = await bot.users.lookupByEmail({ email });
      id = r.user?.id ?? null;
    } catch (err) {
      // No such person in the workspace, or the app lacks the scope: the card shows the name as text.
      const code = slackErrorCode(err);
      if (code !== 'users_not_found' && code !== 'missing_scope' && code !== 'not_allowed_token_type')
        throw err;
    }
    slackUsers.set(email, { id, atMs: Date.now() });
    return id;
  }
  const cardOf = async (state: EntityState) =>
    cardMessage(state, state.known.includes('assignee') ? await slackUserOf(state.assignee) : null);

  const readMessage = (channel: string, ts: string, threadTs: string | null) =>
    readSlackMessage(reader, channel, ts, threadTs);
  const pages = slackPages;

  async function findCard(q: MarkerQuery): Promise<FoundTarget | null> {
    const channels = q.workspace ? [q.workspace] : cfg.channels;
    const oldest =
      q.createdAfterMs != null ? String(Math.max(0, q.createdAfterMs - CLOCK_SKEW_MS) / 1000) : '0';
    for (const channel of channels) {
      for await (const m of pages((cursor) =>
        reader.conversations.history({
          channel,
          oldest,
          limit: cfg.pageSize,
          include_all_metadata: true,
          ...(cursor && { cursor }),
        }),
      )) {
        if (m.metadata?.event_type === CARD_EVENT_TYPE && markerOf(m) === q.marker)
          return { targetId: messageId(channel, m.ts), targetKey: null };
      }
    }
    return null;
  }

  async function findReply(parentId: string, marker: string): Promise<FoundTarget | null> {
    const parent = parseMessageId(parentId);
    if (!parent) return null;
    for await (const m of pages((cursor) =>
      reader.conversations.replies({
        channel: parent.channel,
        ts: parent.ts,
        limit: cfg.pageSize,
        include_all_metadata: true,
        ...(cursor && { cursor }),
      }),
    )) {
      if (m.ts !== parent.ts && m.metadata?.event_type === REPLY_EVENT_TYPE && markerOf(m) === marker)
        return { targetId: messageId(parent.channel, m.ts), targetKey: null };
    }
    return null;
  }

  async function findByMarker(q: MarkerQuery): Promise<FoundTarget | null> {
    if (q.entityType === 'message') return findCard(q);
    if (q.entityType === 'comment' && q.parentId) return findReply(q.parentId, q.marker);
    return null;
  }

  function result(
    channel: string,
    m: { ts: string; edited?: { ts: string } | undefined },
    written: EntityState | null,
    alreadyApplied: boolean,
    before: EntityState | null = null,
    skipped: ApplyResult['skipped'] = [],
  ): ApplyResult {
    const version = m.edited?.ts ?? m.ts;
    return {
      targetId: messageId(channel, m.ts),
      targetKey: null,
      written,
      platformVersion: version,
      platformTsMs: tsMs(version),
      alreadyApplied,
      skipped,
      before,
    };
  }

  async function remove(cmd: WriteCommand): Promise<ApplyResult> {
    const { channel, ts } = ids(cmd, cmd.targetId);
    try {
      await bot.chat.delete({ channel, ts });
    } catch (err) {
      // Already gone (a repeat, or a person deleted it): the delete holds.
      if ((err as { data?: { error?: string } }).data?.error !== 'message_not_found') throw err;
      return { ...result(channel, { ts }, null, true), platformVersion: null, platformTsMs: null };
    }
    return { ...result(channel, { ts }, null, false), platformVersion: null, platformTsMs: null };
  }

  async function createCard(cmd: WriteCommand): Promise<ApplyResult> {
    if (!cmd.marker) throw invalid(cmd, 'a create needs a marker');
    const channel = cmd.workspace;
    const found = await findCard({
      marker: cmd.marker,
      entityType: 'message',
      parentId: null,
      workspace: channel,
      createdAfterMs: cmd.createdAtMs,
    });
    if (found) {
      const { ts } = parseMessageId(found.targetId)!;
      const m = await readMessage(channel, ts, null);
      if (!m) throw notFound(`card ${found.targetId}`);
      return result(channel, m, cardEntityState(m.metadata?.event_payload ?? {}), true);
    }
    const state = cardFields(cmd.fields);
    const { text, blocks } = await cardOf(state);
    const res = posted.parse(
      await bot.chat.postMessage({
        channel,
        text,
        blocks: blocks as never,
        metadata: { event_type: CARD_EVENT_TYPE, event_payload: { ...cardPayload(state, cmd.marker) } },
      }),
    );
    return result(channel, res, state, false);
  }

  async function updateCard(cmd: WriteCommand): Promise<ApplyResult> {
    const { channel, ts } = ids(cmd, cmd.targetId);
    const m = await readMessage(channel, ts, null);
    if (!m) throw notFound(`card ${cmd.targetId}`);
    const before = cardEntityState(m.metadata?.event_payload ?? {});
    const stale = staleFields(cmd, before);
    const write = fieldsToWrite(cmd, before, stale).filter((f) =>
      (CARD_FIELDS as readonly string[]).includes(f),
    );
    if (write.length === 0) return result(channel, m, before, stale.length === 0, before, stale);
    const after = merged(before, cmd.fields, write);
    const { text, blocks } = await cardOf(after);
    const res = posted.parse(
      await bot.chat.update({
        channel,
        ts,
        text,
        blocks: blocks as never,
        metadata: { event_type: CARD_EVENT_TYPE, event_payload: { ...cardPayload(after, markerOf(m)) } },
      }),
    );
    if (cfg.statusReplies && write.includes('status') && after.status) {
      // A status reply is news in the thread, never a change: its metadata keeps normalize off it.
      await bot.chat.postMessage({
        channel,
        thread_ts: ts,
        text: `Status: *${escape(after.status.name)}*`,
        metadata: { event_type: STATUS_EVENT_TYPE, event_payload: { status: after.status.name } },
      });
    }
    return result(channel, res.message ?? { ts }, after, false, before, stale);
  }

  /** What a reply's echo will read as: the body through mrkdwn and back. */
  const replyWritten = (body: string, ts: string): EntityState =>
    entityState({ body: mrkdwnToMarkdown(markdownToMrkdwn(body)), createdAtMs: tsMs(ts) });

  async function applyComment(cmd: WriteCommand): Promise<ApplyResult> {
    if (cmd.action === 'delete') return remove(cmd);
    const body = cmd.fields.body ?? '';
    const text = `${attribution(cmd)}\n${markdownToMrkdwn(body)}`;
    if (cmd.action === 'create') {
      if (!cmd.marker || !cmd.parentId) throw invalid(cmd, 'a comment create needs a marker and a parentId');
      const parent = ids(cmd, cmd.parentId);
      const found = await findReply(cmd.parentId, cmd.marker);
      if (found) {
        const { ts } = parseMessageId(found.targetId)!;
        const m = await readMessage(parent.channel, ts, parent.ts);
        if (!m) throw notFound(`reply ${found.targetId}`);
        return result(parent.channel, m, replyWritten(body, m.ts), true);
      }
      const res = posted.parse(
        await bot.chat.postMessage({
          channel: parent.channel,
          thread_ts: parent.ts,
          text,
          metadata: { event_type: REPLY_EVENT_TYPE, event_payload: { marker: cmd.marker, attributed: '1' } },
        }),
      );
      return result(parent.channel, res, replyWritten(body, res.ts), false);
    }
    const { channel, ts } = ids(cmd, cmd.targetId);
    const parent = cmd.parentId ? parseMessageId(cmd.parentId) : null;
    const m = await readMessage(channel, ts, parent?.ts ?? null);
    if (!m) throw notFound(`reply ${cmd.targetId}`);
    const before = entityState({ body: replyState(m).body });
    const stale = staleFields(cmd, before);
    const write = fieldsToWrite(cmd, before, stale);
    if (!write.includes('body')) return result(channel, m, before, stale.length === 0, before, stale);
    const res = posted.parse(
      await bot.chat.update({
        channel,
        ts,
        text,
        metadata: {
          event_type: REPLY_EVENT_TYPE,
          event_payload: { marker: markerOf(m) ?? '', attributed: '1' },
        },
      }),
    );
    return result(channel, res.message ?? { ts }, replyWritten(body, ts), false, before, stale);
  }

  return {
    findByMarker,
    async apply(cmd) {
      if (cmd.entityType === 'comment') return applyComment(cmd);
      if (cmd.entityType !== 'message')
        throw invalid(cmd, `a Slack side holds cards (entityType message), not ${cmd.entityType}`);
      if (cmd.action === 'create') return createCard(cmd);
      if (cmd.action === 'delete') return remove(cmd);
      return updateCard(cmd);
    },
  };
}
