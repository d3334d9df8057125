/**
 * Slack emulator: the Web API methods Lockstep uses (`POST /api/<method>`, HTTP 200 with
 * `{ok:false, error}` for errors as Slack does) and the Events API (signed `event_callback`
 * deliveries with Slack's retry headers, after a `url_verification` handshake). Test
 * infrastructure only: nothing here is Slack.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { EmulatedUser } from '../common/actors.ts';
import type { EmulatorKit, EmulatorRequest, EmulatorResponse, PlatformEmulator } from '../common/server.ts';
import type { BuiltDelivery, RetryPolicy } from '../common/webhooks.ts';
import { checkBlocks, type Blocks } from './blocks.ts';
import { asBool, checkArgs, SlackMethodSpecs, unknownArgs, type MethodSpec } from './params.ts';
import type { SeedMessage, SlackSeed } from './seed.ts';

export interface SlackUser {
  id: string;
  teamId: string;
  name: string;
  realName: string;
  email: string | null;
  isBot: boolean;
  botId: string | null;
  updated: number;
}

export interface SlackChannel {
  id: string;
  name: string;
  type: 'public' | 'private' | 'im' | 'mpim';
  created: number;
}

export interface SlackMessage {
  channel: string;
  ts: string;
  user: string;
  botId: string | null;
  text: string;
  threadTs: string | null;
  metadata: { event_type: string; event_payload: Record<string, unknown> } | null;
  blocks: Blocks | null;
  edited: { user: string; ts: string } | null;
  /** In the order first added, each with its users in the order they reacted. */
  reactions: { name: string; users: string[] }[];
}

export type VerificationStatus = 'unset' | 'pending' | 'verified' | 'failed';

interface AppSettings {
  id: string;
  requestUrl: string | null;
  signingSecret: string;
  verificationToken: string;
  botCanReadChannelThreads: boolean;
}

type Args = Record<string, unknown>;
type Reply = EmulatorResponse;

/** Methods the emulator answers. Others in Slack's spec get 501 `not_emulated` (never faked). */
const EMULATED = new Set([
  'auth.test',
  'chat.delete',
  'chat.postMessage',
  'chat.update',
  'conversations.history',
  'conversations.replies',
  'reactions.add',
  'reactions.remove',
  'users.info',
  'users.lookupByEmail',
]);

/**
 * Required by Slack although the published spec marks them optional: the method pages say
 * "channel and ts arguments are always required", and live calls without them answer
 * invalid_arguments (observed and recorded in brekkylab/backlot#84).
 */
const REQUIRED_BEYOND_SPEC: Record<string, string[]> = {
  'chat.delete': ['channel', 'ts'],
  'conversations.history': ['channel'],
  'conversations.replies': ['channel', 'ts'],
};

const BOT_SCOPES =
  'chat:write,channels:history,groups:history,im:history,mpim:history,reactions:write,users:read,users:read.email';

export class SlackEmulator implements PlatformEmulator {
  readonly platform = 'slack' as const;

  /**
   * Slack retries a failed delivery three times: "almost immediately" (taken as 1 s), after 1 min
   * and after 5 min; it gives up on a non-200 carrying `x-slack-no-retry: 1`; it waits 3 s.
   */
  readonly retryPolicy: RetryPolicy = {
    delaysMs: [1_000, 60_000, 300_000],
    retryOn: (_status, headers) => headers.get('x-slack-no-retry') !== '1',
    timeoutMs: 3_000,
  };

  private readonly specs = new SlackMethodSpecs();
  private team = { id: 'T0EMULATED', name: 'Emulated Slack workspace', domain: 'emulated' };
  private app: AppSettings = defaultApp();
  private users = new Map<string, SlackUser>();
  /** Auto-created people: the shell's actor id → the Slack user made for them. */
  private byActor = new Map<string, string>();
  private channels = new Map<string, SlackChannel>();
  private messages = new Map<string, SlackMessage[]>();
  private lastMicros = 0;
  private eventSeq = 0;
  private kit: EmulatorKit | null = null;
  private verification: Promise<VerificationStatus> = Promise.resolve('unset');
  private verificationStatus: VerificationStatus = 'unset';
  private verificationProblem: string | null = null;

  // ---- the shell's contract -------------------------------------------------------------

  tokenOf(req: Pick<EmulatorRequest, 'headers' | 'query' | 'rawBody'>): string | null {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) return auth.slice(7).trim() || null;
    const t = parseArgs(req).args['token'];
    return typeof t === 'string' && t !== '' ? t : null;
  }

  invalidToken(): EmulatorResponse {
    // A revoked or unknown token: HTTP 200, as every Slack method error.
    return slackError('invalid_auth');
  }

  unauthenticated(): EmulatorResponse {
    return slackError('not_authed');
  }

  operationOf(req: Pick<EmulatorRequest, 'path'>): string | null {
    const m = /^\/api\/([A-Za-z0-9_.]+)$/.exec(req.path);
    return m ? (m[1] ?? null) : null;
  }

  rateLimited(retryAfterSec: number): EmulatorResponse {
    return {
      status: 429,
      headers: { 'retry-after': String(retryAfterSec) },
      body: { ok: false, error: 'ratelimited' },
    };
  }

  serverError(status: number): EmulatorResponse {
    // Slack's 5xx bodies are not documented; a plain status line is the honest minimum.
    return { status, headers: { 'content-type': 'text/plain' }, body: `${status} emulated server error` };
  }

  reset(kit: EmulatorKit): void {
    this.kit = kit;
    this.team = { id: 'T0EMULATED', name: 'Emulated Slack workspace', domain: 'emulated' };
    this.app = defaultApp();
    this.users.clear();
    this.byActor.clear();
    this.channels.clear();
    this.messages.clear();
    this.eventSeq = 0;
    this.verification = Promise.resolve('unset');
    this.verificationStatus = 'unset';
    this.verificationProblem = null;
  }

  /** Seeding adds to the current state; `app` settings given replace the current ones. */
  seed(doc: unknown, kit: EmulatorKit): void {
    this.kit = kit;
    const s = (doc ?? {}) as SlackSeed;
    if (s.team) this.team = { ...this.team, ...s.team };
    const now = Math.floor(Date.now() / 1000);
    for (const u of s.users ?? []) {
      const user: SlackUser = {
        id: u.id,
        teamId: this.team.id,
        name: u.name,
        realName: u.realName ?? u.name,
        email: u.email ?? null,
        isBot: u.isBot === true,
        botId: u.isBot ? (u.botId ?? `B${u.id.slice(1)}`) : null,
        updated: now,
      };
      this.users.set(user.id, user);
      kit.actors.add({
        id: user.id,
        name: user.realName,
        email: user.email,
        isBot: user.isBot,
        tokens: u.tokens ?? [],
      });
    }
    for (const c of s.channels ?? []) {
      this.channels.set(c.id, { id: c.id, name: c.name, type: c.type ?? 'public', created: now });
      if (!this.messages.has(c.id)) this.messages.set(c.id, []);
    }
    for (const m of s.messages ?? []) this.seedMessage(m);
    if (s.app) {
      const { requestUrl, ...rest } = s.app;
      this.app = { ...this.app, ...stripUndefined(rest) };
      if (requestUrl !== undefined) this.setRequestUrl(requestUrl);
    }
  }

  state(): unknown {
    return {
      team: this.team,
      app: {
        id: this.app.id,
        requestUrl: this.app.requestUrl,
        requestUrlStatus: this.verificationStatus,
        requestUrlProblem: this.verificationProblem,
        botCanReadChannelThreads: this.app.botCanReadChannelThreads,
      },
      users: [...this.users.values()],
      channels: [...this.channels.values()],
      messages: Object.fromEntries([...this.messages].map(([c, ms]) => [c, ms])),
    };
  }

  /** Resolves once the Request URL handshake has finished (immediately when none is set). */
  verified(): Promise<VerificationStatus> {
    return this.verification;
  }

  // ---- Web API ----------------------------------------------------------------------------

  handle(req: EmulatorRequest, kit: EmulatorKit): EmulatorResponse {
    this.kit = kit;
    const method = req.operation;
    if (!method) return { status: 404, body: { ok: false, error: 'unknown_method' } };
    const spec = this.specs.get(method);
    if (!spec) return { status: 404, body: { ok: false, error: 'unknown_method', req_method: method } };
    if (!EMULATED.has(method))
      return {
        status: 501,
        body: { ok: false, error: 'not_emulated', detail: `the Slack emulator does not implement ${method}` },
      };
    const token = this.tokenOf(req) ?? '';
    // Every Slack token starts xox (xoxb-, xoxp-, xoxe.…); anything else is refused.
    if (!token.startsWith('xox')) return slackError('invalid_auth');

    const parsed = parseArgs(req, spec);
    if (parsed.error) return slackError(parsed.error);
    const args = parsed.args;
    const problems = checkArgs(spec, args);
    for (const f of REQUIRED_BEYOND_SPEC[method] ?? [])
      if (args[f] === undefined) problems.push({ field: f, kind: 'missing' });
    if (problems.length > 0) {
      const typed = problems.find((p) => p.kind === 'type');
      if (typed && !problems.some((p) => p.kind === 'missing')) {
        const named = typeErrorFor(method, typed.field);
        if (named) return slackError(named);
      }
      return slackError('invalid_arguments', {
        response_metadata: {
          messages: problems.map((p) =>
            p.kind === 'missing'
              ? `[ERROR] missing required field: ${p.field}`
              : `[ERROR] invalid type for field: ${p.field}`,
          ),
        },
      });
    }
    const me = this.userFor(req.actor);
    const res = this.dispatch(method, args, me);
    const ignored = unknownArgs(spec, args);
    // Slack silently ignores arguments a method does not take; the emulator does too, but says
    // which in a header of its own so a typo in a connector is visible in tests.
    if (ignored.length > 0) res.headers = { ...res.headers, 'x-emulator-ignored-args': ignored.join(',') };
    res.headers = {
      ...res.headers,
      'x-oauth-scopes': me.isBot
        ? BOT_SCOPES
        : 'channels:history,groups:history,chat:write,users:read,users:read.email',
    };
    return res;
  }

  private dispatch(method: string, a: Args, me: SlackUser): Reply {
    switch (method) {
      case 'auth.test':
        return ok({
          // A reserved .invalid host: the workspace URL must never look like a real Slack workspace.
          url: `https://${this.team.domain}.emulated-slack.invalid/`,
          team: this.team.name,
          user: me.name,
          team_id: this.team.id,
          user_id: me.id,
          ...(me.botId ? { bot_id: me.botId } : {}),
          is_enterprise_install: false,
        });
      case 'chat.postMessage':
        return this.postMessage(a, me);
      case 'chat.update':
        return this.update(a, me);
      case 'chat.delete':
        return this.delete(a, me);
      case 'reactions.add':
        return this.react(a, me, 'add');
      case 'reactions.remove':
        return this.react(a, me, 'remove');
      case 'conversations.history':
        return this.history(a);
      case 'conversations.replies':
        return this.replies(a, me);
      case 'users.info': {
        const u = this.users.get(str(a['user']));
        return u ? ok({ user: this.renderUser(u) }) : slackError('user_not_found');
      }
      case 'users.lookupByEmail': {
        const email = str(a['email']).toLowerCase();
        const u = [...this.users.values()].find((x) => x.email?.toLowerCase() === email);
        return u ? ok({ user: this.renderUser(u) }) : slackError('users_not_found');
      }
      default:
        return { status: 501, body: { ok: false, error: 'not_emulated' } };
    }
  }

  private postMessage(a: Args, me: SlackUser): Reply {
    const channel = this.resolveChannel(str(a['channel']));
    if (!channel) return slackError('channel_not_found');
    const text = str(a['text']);
    const blocks = parseBlocks(a['blocks']);
    if ('error' in blocks) return blocks.error;
    // A message with blocks and no text is accepted; the fallback text is the SDK's warning, not Slack's.
    if (text === '' && !blocks.blocks && !a['attachments'] && !a['markdown_text'])
      return slackError('no_text');
    if (text.length > 40_000) return slackError('msg_too_long');
    let threadTs: string | null = null;
    if (a['thread_ts'] !== undefined && str(a['thread_ts']) !== '') {
      threadTs = str(a['thread_ts']);
      if (!/^\d+\.\d{6}$/.test(threadTs))
        return slackError('invalid_thread_ts', {
          response_metadata: { messages: [`[ERROR] ${threadTs} is not a valid thread_ts`] },
        });
    }
    const metadata = parseMetadata(a['metadata']);
    if (typeof metadata === 'string') return slackError(metadata);
    const msg: SlackMessage = {
      channel: channel.id,
      ts: this.nextTs(),
      user: me.id,
      botId: me.botId,
      text,
      threadTs,
      metadata,
      blocks: blocks.blocks,
      edited: null,
      reactions: [],
    };
    this.list(channel.id).push(msg);
    this.emitMessage(msg);
    return ok({ channel: channel.id, ts: msg.ts, message: this.render(msg, true) });
  }

  private update(a: Args, me: SlackUser): Reply {
    const channel = this.resolveChannel(str(a['channel']));
    if (!channel) return slackError('channel_not_found');
    const msg = this.list(channel.id).find((m) => m.ts === str(a['ts']));
    if (!msg) return slackError('message_not_found');
    // Only the author (the same bot, or the same person) may edit a message.
    if (msg.user !== me.id) return slackError('cant_update_message');
    const metadata = parseMetadata(a['metadata']);
    if (typeof metadata === 'string') return slackError(metadata);
    const blocks = parseBlocks(a['blocks']);
    if ('error' in blocks) return blocks.error;
    const before = this.render(msg, true);
    const editTs = this.nextTs();
    if (a['text'] !== undefined) msg.text = str(a['text']);
    // Given metadata replaces the message's; given blocks replace its blocks ([] removes them).
    if (metadata) msg.metadata = metadata;
    if (a['blocks'] !== undefined) msg.blocks = blocks.blocks;
    msg.edited = { user: me.id, ts: editTs };
    this.emitChanged(msg, before, editTs);
    return ok({ channel: channel.id, ts: msg.ts, text: msg.text, message: this.render(msg, true) });
  }

  /**
   * Only the author may delete (a bot its own messages): Slack lets workspace admins' user tokens
   * delete others' messages, which Lockstep never does. A deleted parent's replies stay stored but
   * are no longer reachable (history lists parents only; replies of its ts is thread_not_found).
   */
  private delete(a: Args, me: SlackUser): Reply {
    const channel = this.resolveChannel(str(a['channel']));
    if (!channel) return slackError('channel_not_found');
    const list = this.list(channel.id);
    const at = list.findIndex((m) => m.ts === str(a['ts']));
    const msg = list[at];
    if (!msg) return slackError('message_not_found');
    if (msg.user !== me.id) return slackError('cant_delete_message');
    const before = this.render(msg, true);
    list.splice(at, 1);
    const eventTs = this.nextTs();
    this.emit({
      type: 'message',
      subtype: 'message_deleted',
      hidden: true,
      channel: channel.id,
      ts: eventTs,
      deleted_ts: msg.ts,
      event_ts: eventTs,
      previous_message: before,
      channel_type: channelType(channel),
    });
    return ok({ channel: channel.id, ts: msg.ts });
  }

  /** reactions.add / reactions.remove on a message (files and file comments are not emulated). */
  private react(a: Args, me: SlackUser, op: 'add' | 'remove'): Reply {
    const name = str(a['name']);
    const ts = str(a['timestamp']);
    if (str(a['channel']) === '' || ts === '') return slackError('no_item_specified');
    if (!/^\d+\.\d{6}$/.test(ts)) return slackError('bad_timestamp');
    // Emoji names as Slack spells them (`thumbsup`, `+1`, `white_check_mark::skin-tone-2`), no colons.
    if (!/^[a-z0-9_+'-]+(::skin-tone-[2-6])?$/.test(name)) return slackError('invalid_name');
    const channel = this.channels.get(str(a['channel']));
    const msg = channel && this.list(channel.id).find((m) => m.ts === ts);
    if (!channel || !msg) return slackError('message_not_found');
    const reaction = msg.reactions.find((r) => r.name === name);
    if (op === 'add') {
      if (reaction?.users.includes(me.id)) return slackError('already_reacted');
      if (reaction) reaction.users.push(me.id);
      else msg.reactions.push({ name, users: [me.id] });
    } else {
      if (!reaction?.users.includes(me.id)) return slackError('no_reaction');
      reaction.users = reaction.users.filter((u) => u !== me.id);
      if (reaction.users.length === 0) msg.reactions = msg.reactions.filter((r) => r !== reaction);
    }
    this.emit({
      type: op === 'add' ? 'reaction_added' : 'reaction_removed',
      user: me.id,
      reaction: name,
      item_user: msg.user,
      item: { type: 'message', channel: channel.id, ts: msg.ts },
      event_ts: this.nextTs(),
    });
    return ok({});
  }

  private history(a: Args): Reply {
    const channel = this.channels.get(str(a['channel']));
    if (!channel) return slackError('channel_not_found');
    const parents = this.list(channel.id).filter((m) => m.threadTs === null || m.threadTs === m.ts);
    const page = this.page(parents, a, 'desc');
    if (typeof page === 'string') return slackError(page);
    const all = asBool(a['include_all_metadata']);
    return ok({
      messages: page.items.map((m) => this.render(m, all)),
      has_more: page.next !== null,
      pin_count: 0,
      channel_actions_ts: null,
      channel_actions_count: 0,
      ...(page.next !== null ? { response_metadata: { next_cursor: page.next } } : {}),
    });
  }

  private replies(a: Args, me: SlackUser): Reply {
    const channel = this.channels.get(str(a['channel']));
    if (!channel) return slackError('channel_not_found');
    if (
      me.isBot &&
      (channel.type === 'public' || channel.type === 'private') &&
      !this.app.botCanReadChannelThreads
    )
      return slackError('missing_scope', {
        needed: channel.type === 'public' ? 'channels:history' : 'groups:history',
        provided: BOT_SCOPES,
      });
    const ts = str(a['ts']);
    const all = this.list(channel.id);
    const parent = all.find((m) => m.ts === ts);
    if (!parent) return slackError('thread_not_found');
    const thread = [parent, ...all.filter((m) => m.threadTs === ts && m.ts !== ts)];
    const page = this.page(thread, a, 'asc');
    if (typeof page === 'string') return slackError(page);
    const meta = asBool(a['include_all_metadata']);
    return ok({
      messages: page.items.map((m) => this.render(m, meta)),
      has_more: page.next !== null,
      ...(page.next !== null ? { response_metadata: { next_cursor: page.next } } : {}),
    });
  }

  /** oldest/latest/inclusive/limit/cursor as Slack applies them; cursors are `next_ts:<ts>`. */
  private page(
    items: SlackMessage[],
    a: Args,
    order: 'asc' | 'desc',
  ): { items: SlackMessage[]; next: string | null } | string {
    const oldest = a['oldest'] === undefined || str(a['oldest']) === '' ? 0 : Number(a['oldest']);
    const latest = a['latest'] === undefined || str(a['latest']) === '' ? Infinity : Number(a['latest']);
    const inclusive = asBool(a['inclusive']);
    let limit = a['limit'] === undefined ? 100 : Number(a['limit']);
    if (limit <= 0) limit = 100;
    limit = Math.min(limit, 999);
    let sorted = items
      .filter((m) => {
        const t = Number(m.ts);
        const lo = inclusive ? t >= oldest : t > oldest;
        const hi = inclusive ? t <= latest : t < latest;
        return lo && hi;
      })
      .sort((x, y) => (order === 'asc' ? cmpTs(x.ts, y.ts) : cmpTs(y.ts, x.ts)));
    if (a['cursor'] !== undefined && str(a['cursor']) !== '') {
      const decoded = Buffer.from(str(a['cursor']), 'base64').toString('utf8');
      const m = /^next_ts:(\d+\.\d{6})$/.exec(decoded);
      if (!m?.[1]) return 'invalid_cursor';
      const from = m[1];
      sorted = sorted.filter((x) => (order === 'asc' ? cmpTs(x.ts, from) >= 0 : cmpTs(x.ts, from) <= 0));
    }
    const pageItems = sorted.slice(0, limit);
    const nextItem = sorted[limit];
    return {
      items: pageItems,
      next: nextItem ? Buffer.from(`next_ts:${nextItem.ts}`).toString('base64') : null,
    };
  }

  // ---- Events API -------------------------------------------------------------------------

  private setRequestUrl(url: string | null): void {
    this.app.requestUrl = url;
    if (url === null) {
      this.verificationStatus = 'unset';
      this.verification = Promise.resolve('unset');
      return;
    }
    this.verificationStatus = 'pending';
    this.verificationProblem = null;
    this.verification = this.handshake(url).then(
      (problem) => {
        this.verificationProblem = problem;
        this.verificationStatus = problem === null ? 'verified' : 'failed';
        return this.verificationStatus;
      },
      (err: unknown) => {
        this.verificationProblem = err instanceof Error ? err.message : String(err);
        this.verificationStatus = 'failed';
        return this.verificationStatus;
      },
    );
  }

  /** Slack's url_verification: the endpoint must answer 200 with the challenge within 3 s. */
  private async handshake(url: string): Promise<string | null> {
    const challenge = randomBytes(24).toString('base64url');
    const body = JSON.stringify({ token: this.app.verificationToken, challenge, type: 'url_verification' });
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.signedHeaders(body) },
      body,
      signal: AbortSignal.timeout(this.retryPolicy.timeoutMs),
    });
    const text = await res.text();
    if (res.status !== 200) return `request URL answered HTTP ${res.status}`;
    let echoed: unknown = text.trim();
    const type = res.headers.get('content-type') ?? '';
    if (type.includes('json')) echoed = (JSON.parse(text) as { challenge?: unknown }).challenge;
    else if (type.includes('x-www-form-urlencoded')) echoed = new URLSearchParams(text).get('challenge');
    return echoed === challenge ? null : 'request URL did not echo the challenge';
  }

  private signedHeaders(body: string): Record<string, string> {
    const ts = String(Math.floor(Date.now() / 1000));
    const sig = createHmac('sha256', this.app.signingSecret).update(`v0:${ts}:${body}`).digest('hex');
    return { 'x-slack-request-timestamp': ts, 'x-slack-signature': `v0=${sig}` };
  }

  private emitMessage(m: SlackMessage): void {
    const ev = this.render(m, true);
    this.emit({
      ...ev,
      channel: m.channel,
      event_ts: m.ts,
      channel_type: channelType(this.channels.get(m.channel)),
    });
  }

  private emitChanged(m: SlackMessage, previous: Record<string, unknown>, editTs: string): void {
    this.emit({
      type: 'message',
      subtype: 'message_changed',
      hidden: true,
      channel: m.channel,
      message: this.render(m, true),
      previous_message: previous,
      ts: editTs,
      event_ts: editTs,
      channel_type: channelType(this.channels.get(m.channel)),
    });
  }

  private emit(event: Record<string, unknown>): void {
    const url = this.app.requestUrl;
    const kit = this.kit;
    if (!url || !kit || this.verificationStatus === 'failed' || this.verificationStatus === 'unset') return;
    const bot = this.botUser();
    const eventId = `Ev${(++this.eventSeq).toString(36).toUpperCase().padStart(4, '0')}${randomBytes(4).toString('hex').toUpperCase()}`;
    const body = JSON.stringify({
      token: this.app.verificationToken,
      team_id: this.team.id,
      context_team_id: this.team.id,
      api_app_id: this.app.id,
      event,
      type: 'event_callback',
      event_id: eventId,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [
        {
          enterprise_id: null,
          team_id: this.team.id,
          user_id: bot?.id ?? null,
          is_bot: true,
          is_enterprise_install: false,
        },
      ],
      // Deprecated by Slack but still required by its published wrapper schema.
      authed_users: bot ? [bot.id] : [],
      is_ext_shared_channel: false,
      event_context: `4-${Buffer.from(`${this.team.id}:${eventId}`).toString('base64url')}`,
    });
    const send = (): void =>
      kit.webhooks.deliver(eventId, url, (attempt) => this.buildDelivery(eventId, body, attempt, kit));
    if (this.verificationStatus === 'pending') void this.verification.then((s) => s === 'verified' && send());
    else send();
  }

  private buildDelivery(eventId: string, body: string, attempt: number, kit: EmulatorKit): BuiltDelivery {
    const headers: Record<string, string> = { ...this.signedHeaders(body) };
    if (attempt > 0) {
      headers['x-slack-retry-num'] = String(attempt);
      headers['x-slack-retry-reason'] = retryReason(kit, eventId);
    }
    return { headers, body };
  }

  // ---- model helpers ----------------------------------------------------------------------

  private botUser(): SlackUser | undefined {
    return [...this.users.values()].find((u) => u.isBot);
  }

  private userFor(actor: EmulatedUser): SlackUser {
    const seeded = this.users.get(actor.id) ?? this.users.get(this.byActor.get(actor.id) ?? '');
    if (seeded) return seeded;
    // A token never seeded is a person the shell just met: give them a Slack-shaped id.
    const id = `U${actor.id
      .replace(/^slack-user-/, '')
      .toUpperCase()
      .slice(0, 10)}`;
    const u: SlackUser = {
      id,
      teamId: this.team.id,
      name: actor.name.toLowerCase().replace(/\s+/g, '.'),
      realName: actor.name,
      email: actor.email,
      isBot: false,
      botId: null,
      updated: Math.floor(Date.now() / 1000),
    };
    this.users.set(id, u);
    this.byActor.set(actor.id, id);
    return u;
  }

  private renderUser(u: SlackUser): Record<string, unknown> {
    return {
      id: u.id,
      team_id: u.teamId,
      name: u.name,
      deleted: false,
      real_name: u.realName,
      is_bot: u.isBot,
      is_app_user: false,
      updated: u.updated,
      profile: {
        real_name: u.realName,
        display_name: u.name,
        ...(u.email ? { email: u.email } : {}),
        ...(u.botId ? { bot_id: u.botId, api_app_id: this.app.id } : {}),
        team: u.teamId,
      },
    };
  }

  /** The message object as Slack returns it; metadata only when asked for (or for the event). */
  private render(m: SlackMessage, withMetadata: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {
      type: 'message',
      user: m.user,
      text: m.text,
      ts: m.ts,
      team: this.team.id,
    };
    if (m.botId) {
      out['bot_id'] = m.botId;
      out['app_id'] = this.app.id;
    }
    if (m.threadTs) {
      out['thread_ts'] = m.threadTs;
      if (m.threadTs !== m.ts) {
        const parent = this.list(m.channel).find((p) => p.ts === m.threadTs);
        if (parent) out['parent_user_id'] = parent.user;
      }
    }
    const replies = this.list(m.channel).filter((r) => r.threadTs === m.ts && r.ts !== m.ts);
    if (replies.length > 0) {
      out['thread_ts'] = m.ts;
      out['reply_count'] = replies.length;
      const users = [...new Set(replies.map((r) => r.user))];
      out['reply_users'] = users;
      out['reply_users_count'] = users.length;
      out['latest_reply'] = replies
        .map((r) => r.ts)
        .sort(cmpTs)
        .at(-1);
    }
    if (m.edited) out['edited'] = { ...m.edited };
    if (m.blocks) out['blocks'] = structuredClone(m.blocks);
    if (m.reactions.length > 0)
      out['reactions'] = m.reactions.map((r) => ({
        name: r.name,
        users: [...r.users],
        count: r.users.length,
      }));
    if (withMetadata && m.metadata) out['metadata'] = structuredClone(m.metadata);
    return out;
  }

  private seedMessage(s: SeedMessage): void {
    const ts = s.ts ?? this.nextTs();
    const [secs, micros] = ts.split('.');
    this.lastMicros = Math.max(this.lastMicros, Number(secs) * 1e6 + Number(micros));
    const user = this.users.get(s.user);
    this.list(s.channel).push({
      channel: s.channel,
      ts,
      user: s.user,
      botId: user?.botId ?? null,
      text: s.text,
      threadTs: s.threadTs ?? null,
      metadata: s.metadata ?? null,
      blocks: s.blocks ?? null,
      edited: null,
      reactions: [],
    });
  }

  private resolveChannel(ref: string): SlackChannel | undefined {
    const byId = this.channels.get(ref);
    if (byId) return byId;
    // chat.* also accepts a channel name (with or without '#').
    const name = ref.replace(/^#/, '');
    return [...this.channels.values()].find((c) => c.name === name);
  }

  private list(channel: string): SlackMessage[] {
    let l = this.messages.get(channel);
    if (!l) this.messages.set(channel, (l = []));
    return l;
  }

  /** Slack's ts: "<unix seconds>.<6 digits>", unique and increasing within the workspace here. */
  private nextTs(): string {
    this.lastMicros = Math.max(Date.now() * 1000, this.lastMicros + 1);
    const s = Math.floor(this.lastMicros / 1e6);
    return `${s}.${String(this.lastMicros % 1e6).padStart(6, '0')}`;
  }
}

export function createSlackEmulator(): SlackEmulator {
  return new SlackEmulator();
}

// ---- pure helpers -------------------------------------------------------------------------

function defaultApp(): AppSettings {
  return {
    id: 'A0EMULATED',
    requestUrl: null,
    signingSecret: 'emulator-signing-secret',
    verificationToken: 'emulator-verification-token',
    botCanReadChannelThreads: false,
  };
}

function ok(body: Record<string, unknown>): Reply {
  return { status: 200, body: { ok: true, ...body } };
}

function slackError(error: string, extra: Record<string, unknown> = {}): Reply {
  return { status: 200, body: { ok: false, error, ...extra } };
}

function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

function cmpTs(a: string, b: string): number {
  const [as = '0', au = '0'] = a.split('.');
  const [bs = '0', bu = '0'] = b.split('.');
  return Number(as) - Number(bs) || Number(au) - Number(bu);
}

function channelType(c: SlackChannel | undefined): string {
  if (!c) return 'channel';
  return c.type === 'public' ? 'channel' : c.type === 'private' ? 'group' : c.type;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The named error Slack gives an argument that is present but unparseable, where it has one. */
function typeErrorFor(method: string, field: string): string | null {
  if (field === 'latest') return 'invalid_ts_latest';
  if (field === 'oldest') return 'invalid_ts_oldest';
  if (field === 'ts' && method === 'conversations.replies') return 'thread_not_found';
  if (field === 'ts' && (method === 'chat.update' || method === 'chat.delete')) return 'message_not_found';
  return null;
}

/** `blocks` checked against Block Kit's limits; `{blocks: null}` when absent or empty. */
function parseBlocks(v: unknown): { blocks: Blocks | null } | { error: Reply } {
  if (v === undefined || v === '') return { blocks: null };
  const r = checkBlocks(v);
  if ('error' in r) return { error: slackError(r.error, { response_metadata: { messages: r.messages } }) };
  return { blocks: r.blocks.length > 0 ? r.blocks : null };
}

/** Slack's `metadata` argument: a JSON object {event_type, event_payload}. */
function parseMetadata(v: unknown): SlackMessage['metadata'] | string {
  if (v === undefined || v === '') return null;
  let parsed: unknown = v;
  if (typeof v === 'string') {
    try {
      parsed = JSON.parse(v);
    } catch {
      return 'invalid_metadata_format';
    }
  }
  const o = parsed as { event_type?: unknown; event_payload?: unknown } | null;
  if (typeof o !== 'object' || o === null) return 'invalid_metadata_format';
  if (typeof o.event_type !== 'string' || typeof o.event_payload !== 'object' || o.event_payload === null)
    return 'invalid_metadata_schema';
  return { event_type: o.event_type, event_payload: o.event_payload as Record<string, unknown> };
}

/** Arguments from the query string plus the body (form, or JSON where the method takes JSON). */
function parseArgs(
  req: Pick<EmulatorRequest, 'headers' | 'query' | 'rawBody'>,
  spec?: MethodSpec,
): { args: Args; error: string | null } {
  const args: Args = Object.fromEntries(req.query);
  const type = String(req.headers['content-type'] ?? '');
  const raw = req.rawBody.toString('utf8');
  if (raw === '') return { args, error: null };
  if (type.includes('application/json')) {
    // Slack reads JSON bodies only for methods that accept them; elsewhere the body is ignored.
    if (spec && !spec.acceptsJson) return { args, error: null };
    try {
      const body: unknown = JSON.parse(raw);
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        return { args, error: 'json_not_object' };
      return { args: { ...args, ...(body as Args) }, error: null };
    } catch {
      return { args, error: 'invalid_json' };
    }
  }
  if (type.includes('application/x-www-form-urlencoded') || type === '')
    for (const [k, v] of new URLSearchParams(raw)) args[k] = v;
  return { args, error: null };
}

function retryReason(kit: EmulatorKit, deliveryId: string): string {
  const last = kit.webhooks.log.filter((d) => d.deliveryId === deliveryId).at(-1);
  if (!last) return 'unknown_error';
  if (last.outcome === 'failed') return 'http_error';
  if (last.outcome === 'error')
    return /timeout|aborted/i.test(last.error ?? '') ? 'http_timeout' : 'connection_failed';
  return 'unknown_error';
}
