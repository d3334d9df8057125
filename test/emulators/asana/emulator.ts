/**
 * Asana REST API emulator (test infrastructure, never the real Asana). Requests are matched and
 * validated against Asana's published OpenAPI document; state changes are recorded as Asana's
 * compact events, which feed both the Events API (`GET /events` with sync tokens) and webhooks
 * (handshake during `POST /webhooks`, `X-Hook-Signature` = hex HMAC-SHA256 of the body keyed with
 * the handshake secret, retries with exponential backoff).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { EmulatedUser } from '../common/actors.ts';
import { OpenApiSpec } from '../common/openapi.ts';
import type { EmulatorKit, EmulatorRequest, EmulatorResponse, PlatformEmulator } from '../common/server.ts';
import type { RetryPolicy } from '../common/webhooks.ts';
import {
  CUSTOM_FIELD_FULL,
  CUSTOM_FIELD_SETTING_FULL,
  GidSource,
  MonotonicClock,
  NAMED_COMPACT,
  PROJECT_FULL,
  SECTION_FULL,
  STORY_COMPACT,
  STORY_FULL,
  TAG_FULL,
  TASK_COMPACT,
  TASK_FULL,
  USER_FULL,
  WEBHOOK_COMPACT,
  WEBHOOK_FULL,
  WORKSPACE_FULL,
  parseOptFields,
  pick,
  plainToRich,
  richToPlain,
  type AsanaEvent,
  type AsanaSeed,
  type CustomField,
  type Project,
  type ResourceRef,
  type Section,
  type Story,
  type Tag,
  type Task,
  type Webhook,
  type WebhookFilter,
  type Workspace,
} from './model.ts';
import { richTextProblem } from './rich-text.ts';

export const ASANA_BASE_PATH = '/api/1.0';
const HELP =
  'For more information on API status codes and how to handle them, read the docs on errors: https://developers.asana.com/docs/errors';
/** Text of the 412 in Asana's published spec (getEvents, 412 example). */
const SYNC_INVALID =
  'Sync token invalid or too old. If you are attempting to keep resources in sync, you must fetch the full dataset for this query now and use the new sync token for the next sync.';
const PERMALINK = 'https://app.asana.com/0';

let sharedSpec: OpenApiSpec | null = null;
/** The spec is 3 MB of YAML: parse it once per process. */
function asanaSpec(): OpenApiSpec {
  return (sharedSpec ??= new OpenApiSpec('asana/asana_oas.yaml', ASANA_BASE_PATH));
}

/**
 * Asana documents "exponential backoff, for up to 24 hours" but not the exact schedule. This one
 * doubles from one minute and stops once 24 hours have passed (Asana then deletes the webhook).
 */
function asanaRetryDelays(): number[] {
  const out: number[] = [];
  let total = 0;
  for (let d = 60_000; total + d <= 24 * 3600_000; d *= 2) {
    out.push(d);
    total += d;
  }
  out.push(24 * 3600_000 - total);
  return out;
}

type Json = Record<string, unknown>;

class AsanaError extends Error {
  readonly status: number;
  readonly extra: Json;
  constructor(status: number, message: string, extra: Json = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}

function errorBody(message: string, extra: Json = {}): Json {
  return { errors: [{ message, help: HELP }], ...extra };
}

function isRec(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface SyncToken {
  resource: string;
  afterSeq: number;
  expired: boolean;
}

export class AsanaEmulator implements PlatformEmulator {
  readonly platform = 'asana' as const;
  readonly retryPolicy: RetryPolicy = {
    delaysMs: asanaRetryDelays(),
    // Anything but a success is retried (Asana: "if your server does not respond … with a successful status").
    retryOn: () => true,
    timeoutMs: 10_000,
  };

  private readonly spec = asanaSpec();
  private readonly clock = new MonotonicClock();
  private readonly gids = new GidSource();
  private kit: EmulatorKit | null = null;

  private workspaces = new Map<string, Workspace>();
  private projects = new Map<string, Project>();
  private sections = new Map<string, Section>();
  private tags = new Map<string, Tag>();
  private customFields = new Map<string, CustomField>();
  private tasks = new Map<string, Task>();
  private stories = new Map<string, Story>();
  private webhooks = new Map<string, Webhook>();
  private events: AsanaEvent[] = [];
  private syncTokens = new Map<string, SyncToken>();
  private seq = 0;
  private deliverySeq = 0;
  /** Events of the request being handled; delivered to webhooks in one batch when it ends. */
  private batch: AsanaEvent[] = [];

  tokenOf(req: { headers: EmulatorRequest['headers'] }): string | null {
    const h = req.headers['authorization'];
    const m = typeof h === 'string' ? /^Bearer\s+(\S+)$/i.exec(h) : null;
    return m?.[1] ?? null;
  }

  unauthenticated(): EmulatorResponse {
    return { status: 401, body: errorBody('Not Authorized') };
  }

  operationOf(req: { method: string; path: string }): string | null {
    return this.spec.match(req.method, req.path)?.operationId ?? null;
  }

  rateLimited(retryAfterSec: number): EmulatorResponse {
    return {
      status: 429,
      headers: { 'retry-after': String(retryAfterSec) },
      body: errorBody('You have made too many requests recently. Please, be chill.'),
    };
  }

  serverError(status: number): EmulatorResponse {
    // Asana's 500 carries a phrase from node-asana-phrase; this one is made up per response.
    const [a = 0, b = 0, c = 0, d = 0] = randomBytes(4);
    const phrase = `${1 + (a % 9)} ${['sad', 'happy'][b % 2]} ${['squid', 'yetis'][c % 2]} ${['snuggle', 'dance'][d % 2]} softly`;
    return { status, body: { errors: [{ message: 'Server Error', phrase }] } };
  }

  reset(kit: EmulatorKit): void {
    this.kit = kit;
    this.clock.reset();
    this.gids.reset();
    this.workspaces.clear();
    this.projects.clear();
    this.sections.clear();
    this.tags.clear();
    this.customFields.clear();
    this.tasks.clear();
    this.stories.clear();
    this.webhooks.clear();
    this.events = [];
    this.syncTokens.clear();
    this.seq = 0;
    this.deliverySeq = 0;
    this.batch = [];
  }

  seed(doc: unknown, kit: EmulatorKit): void {
    this.kit = kit;
    const s = (doc ?? {}) as AsanaSeed;
    for (const w of s.workspaces ?? [])
      this.workspaces.set(w.gid, { gid: w.gid, name: w.name, premium: w.premium ?? true });
    for (const f of s.customFields ?? [])
      this.customFields.set(f.gid, {
        gid: f.gid,
        name: f.name,
        workspace: this.workspaces.keys().next().value ?? '',
        type: f.type,
        enum_options: f.enum_options.map((o) => ({
          gid: o.gid,
          name: o.name,
          enabled: o.enabled ?? true,
          color: o.color ?? null,
        })),
        locked: f.locked === true,
      });
    for (const u of s.users ?? [])
      kit.actors.add({
        id: u.gid,
        name: u.name,
        email: u.email,
        isBot: u.bot === true,
        tokens: u.tokens ?? [],
      });
    const everyone = (s.users ?? []).map((u) => u.gid);
    for (const p of s.projects ?? []) {
      const at = this.clock.now();
      this.projects.set(p.gid, {
        gid: p.gid,
        name: p.name,
        workspace: p.workspace,
        members: p.members ?? everyone,
        custom_fields: [...(p.custom_field_settings ?? [])],
        created_at: at,
        modified_at: at,
      });
      for (const sec of p.sections ?? [])
        this.sections.set(sec.gid, { gid: sec.gid, name: sec.name, project: p.gid, created_at: at });
    }
    for (const t of s.tags ?? [])
      this.tags.set(t.gid, { ...t, color: null, notes: '', created_at: this.clock.now() });
    for (const t of s.tasks ?? []) {
      const at = this.clock.now();
      const memberships = (t.memberships ?? []).map((m) => ({
        project: m.project,
        section: m.section ?? this.firstSection(m.project),
      }));
      const workspace =
        t.workspace ?? this.projects.get(memberships[0]?.project ?? '')?.workspace ?? this.defaultWorkspace();
      const notes = t.notes ?? '';
      this.tasks.set(t.gid, {
        gid: t.gid,
        name: t.name,
        notes,
        html_notes: plainToRich(notes),
        completed: t.completed ?? false,
        completed_at: t.completed ? at : null,
        completed_by: t.completed ? (t.created_by ?? null) : null,
        assignee: t.assignee ?? null,
        due_on: t.due_on ?? null,
        due_at: null,
        start_on: null,
        created_at: at,
        modified_at: at,
        created_by: t.created_by ?? null,
        workspace,
        memberships,
        tags: t.tags ?? [],
        followers: [],
        external: t.external ? { gid: t.external.gid ?? null, data: t.external.data ?? null } : null,
        custom_fields: { ...t.custom_fields },
        deleted: false,
      });
    }
    for (const st of s.stories ?? []) {
      this.stories.set(st.gid, {
        gid: st.gid,
        task: st.task,
        type: 'comment',
        resource_subtype: 'comment_added',
        text: st.text,
        html_text: plainToRich(st.text),
        created_at: this.clock.now(),
        created_by: st.created_by,
        is_edited: false,
        is_pinned: false,
      });
    }
  }

  state(): unknown {
    return {
      workspaces: [...this.workspaces.values()],
      users: this.kit?.actors.all() ?? [],
      projects: [...this.projects.values()],
      sections: [...this.sections.values()],
      tags: [...this.tags.values()],
      customFields: [...this.customFields.values()],
      tasks: [...this.tasks.values()],
      stories: [...this.stories.values()],
      webhooks: [...this.webhooks.values()],
      events: this.events,
      syncTokens: Object.fromEntries(this.syncTokens),
    };
  }

  /**
   * `/_emulator/asana/…` controls:
   *   POST heartbeat            body {webhook?: gid} → an empty `{"events":[]}` delivery, as Asana's 8-hourly heartbeat
   *   POST expire-sync-tokens   body {token?: string} → that token (or all) answers 412 from now on
   */
  async control(
    method: string,
    what: string,
    body: unknown,
    kit: EmulatorKit,
  ): Promise<EmulatorResponse | null> {
    const b = isRec(body) ? body : {};
    if (method === 'POST' && what === 'heartbeat') {
      const targets = [...this.webhooks.values()].filter(
        (w) => w.active && (b['webhook'] === undefined || w.gid === b['webhook']),
      );
      for (const w of targets) this.deliver(w, [], kit);
      return { status: 200, body: { ok: true, webhooks: targets.map((w) => w.gid) } };
    }
    if (method === 'POST' && what === 'expire-sync-tokens') {
      let n = 0;
      for (const [tok, st] of this.syncTokens)
        if (b['token'] === undefined || b['token'] === tok) {
          st.expired = true;
          n++;
        }
      return { status: 200, body: { ok: true, expired: n } };
    }
    return null;
  }

  async handle(req: EmulatorRequest, kit: EmulatorKit): Promise<EmulatorResponse> {
    this.kit = kit;
    this.batch = [];
    try {
      return await this.route(req);
    } catch (e) {
      if (e instanceof AsanaError) return { status: e.status, body: errorBody(e.message, e.extra) };
      throw e;
    } finally {
      // Events recorded before a failure still happened; deliver them.
      const events = this.batch;
      this.batch = [];
      if (events.length) this.fanOut(events, kit);
    }
  }

  // ---------------------------------------------------------------- routing

  private async route(req: EmulatorRequest): Promise<EmulatorResponse> {
    const op = this.spec.match(req.method, req.path);
    if (!op) throw new AsanaError(404, 'No matching route for request');
    let body: unknown;
    if (req.rawBody.length) {
      try {
        body = JSON.parse(req.rawBody.toString('utf8'));
      } catch {
        throw new AsanaError(400, 'Could not parse request data, invalid JSON');
      }
    }
    const problems = this.spec.validate(op, req.query, withoutNullCustomFields(body));
    if (problems.length) {
      const [first] = problems;
      throw new AsanaError(400, this.problemText(first!.where, first!.message), {});
    }
    this.checkLimit(req.query);
    const data = isRec(body) && isRec(body['data']) ? body['data'] : null;
    const p = op.pathParams;
    const actor = req.actor;
    switch (op.operationId) {
      case 'getTask':
        return this.ok(this.renderTask(this.task(p['task_gid']!), req.query));
      case 'createTask':
        return this.createTask(this.need(data), actor, req);
      case 'updateTask':
        return this.ok(
          this.renderTask(this.updateTask(this.task(p['task_gid']!), this.need(data), actor), req.query),
        );
      case 'deleteTask':
        return this.deleteTask(this.task(p['task_gid']!), actor);
      case 'getTasks':
        return this.getTasks(req);
      case 'getTasksForProject':
        return this.listTasks(req, (t) =>
          t.memberships.some((m) => m.project === this.project(p['project_gid']!).gid),
        );
      case 'getTasksForSection':
        return this.listTasks(req, (t) =>
          t.memberships.some((m) => m.section === this.section(p['section_gid']!).gid),
        );
      case 'getStoriesForTask': {
        const t = this.task(p['task_gid']!);
        const list = [...this.stories.values()].filter((s) => s.task === t.gid);
        return this.page(req, list, (s, f) =>
          f ? pick(this.richStory(s), f, false) : pick(this.richStory(s), STORY_COMPACT, true),
        );
      }
      case 'createStoryForTask':
        return this.createStory(this.task(p['task_gid']!), this.need(data), actor, req);
      case 'getStory':
        return this.ok(this.renderStory(this.story(p['story_gid']!), req.query));
      case 'updateStory':
        return this.ok(
          this.renderStory(this.updateStory(this.story(p['story_gid']!), this.need(data), actor), req.query),
        );
      case 'deleteStory':
        return this.deleteStory(this.story(p['story_gid']!), actor);
      case 'getUser':
        return this.ok(this.render(this.richUser(this.user(p['user_gid']!, actor)), USER_FULL, req.query));
      case 'getUsers':
      case 'getUsersForWorkspace': {
        const ws = req.query.get('workspace') ?? p['workspace_gid'];
        if (ws !== undefined && ws !== null) this.workspace(ws);
        const users = this.kit!.actors.all();
        return this.page(req, users, (u, f) => pick(this.richUser(u), f ?? NAMED_COMPACT, !f));
      }
      case 'getWorkspaces':
        return this.page(req, [...this.workspaces.values()], (w, f) =>
          pick(this.richWorkspace(w), f ?? NAMED_COMPACT, !f),
        );
      case 'getWorkspace':
        return this.ok(
          this.render(this.richWorkspace(this.workspace(p['workspace_gid']!)), WORKSPACE_FULL, req.query),
        );
      case 'getProjects':
      case 'getProjectsForWorkspace': {
        const ws = req.query.get('workspace') ?? p['workspace_gid'] ?? null;
        const list = [...this.projects.values()].filter((x) => ws === null || x.workspace === ws);
        return this.page(req, list, (x, f) => pick(this.richProject(x), f ?? NAMED_COMPACT, !f));
      }
      case 'getProject':
        return this.ok(
          this.render(this.richProject(this.project(p['project_gid']!)), PROJECT_FULL, req.query),
        );
      case 'getSectionsForProject': {
        const pr = this.project(p['project_gid']!);
        const list = [...this.sections.values()].filter((s) => s.project === pr.gid);
        return this.page(req, list, (s, f) => pick(this.richSection(s), f ?? NAMED_COMPACT, !f));
      }
      case 'getSection':
        return this.ok(
          this.render(this.richSection(this.section(p['section_gid']!)), SECTION_FULL, req.query),
        );
      case 'getCustomFieldSettingsForProject': {
        const pr = this.project(p['project_gid']!);
        this.needPremium(pr.workspace);
        const list = pr.custom_fields.flatMap((g) => this.customFields.get(g) ?? []);
        return this.page(req, list, (f, fields) =>
          pick(this.richCustomFieldSetting(pr, f), fields ?? CUSTOM_FIELD_SETTING_FULL, !fields),
        );
      }
      case 'getCustomField': {
        const f = this.customField(p['custom_field_gid']!);
        this.needPremium(f.workspace);
        return this.ok(this.render(this.richCustomField(f, undefined), CUSTOM_FIELD_FULL, req.query));
      }
      case 'addTaskForSection':
        return this.addTaskToSection(this.section(p['section_gid']!), this.need(data), actor);
      case 'getMemberships':
        return this.getMemberships(req);
      case 'getTags':
      case 'getTagsForWorkspace': {
        const ws = req.query.get('workspace') ?? p['workspace_gid'] ?? null;
        if (ws !== null) this.workspace(ws);
        const list = [...this.tags.values()].filter((x) => ws === null || x.workspace === ws);
        return this.page(req, list, (x, f) => pick(this.richTag(x), f ?? NAMED_COMPACT, !f));
      }
      case 'getTag':
        return this.ok(this.render(this.richTag(this.tag(p['tag_gid']!)), TAG_FULL, req.query));
      case 'createTag':
      case 'createTagForWorkspace':
        return this.createTag(this.need(data), p['workspace_gid'], req);
      case 'getTagsForTask': {
        const t = this.task(p['task_gid']!);
        const list = t.tags.map((g) => this.tags.get(g)).filter((x): x is Tag => x !== undefined);
        return this.page(req, list, (x, f) => pick(this.richTag(x), f ?? NAMED_COMPACT, !f));
      }
      case 'addTagForTask':
        return this.tagTask(this.task(p['task_gid']!), this.need(data), actor, 'added');
      case 'removeTagForTask':
        return this.tagTask(this.task(p['task_gid']!), this.need(data), actor, 'removed');
      case 'getEvents':
        return this.getEvents(req);
      case 'createWebhook':
        return this.createWebhook(this.need(data), actor, req);
      case 'getWebhooks': {
        const ws = this.workspace(req.query.get('workspace')!);
        const resource = req.query.get('resource');
        const list = [...this.webhooks.values()].filter(
          (w) =>
            w.owner === actor.id &&
            this.workspaceOf(w.resource) === ws.gid &&
            (resource === null || w.resource === resource),
        );
        return this.page(req, list, (w, f) => pick(this.richWebhook(w), f ?? WEBHOOK_COMPACT, !f));
      }
      case 'getWebhook':
        return this.ok(
          this.render(this.richWebhook(this.webhook(p['webhook_gid']!, actor)), WEBHOOK_FULL, req.query),
        );
      case 'deleteWebhook':
        this.webhooks.delete(this.webhook(p['webhook_gid']!, actor).gid);
        return this.ok({});
      default:
        // An Asana route this emulator does not model: say so instead of pretending.
        return {
          status: 501,
          body: errorBody(`Not implemented by the Lockstep Asana emulator: ${op.operationId ?? op.template}`),
        };
    }
  }

  private problemText(where: string, message: string): string {
    // `body/data/completed` → `completed: must be boolean` (Asana prefixes the field, e.g. "workspace: Missing input").
    const field = where
      .replace(/^body\/data\/?/, '')
      .replace(/^body\/?/, '')
      .replace(/^query\//, '')
      .replace(/\//g, '.');
    return field ? `${field}: ${message}` : message;
  }

  private checkLimit(q: URLSearchParams): void {
    const l = q.get('limit');
    if (l !== null && (!/^\d+$/.test(l) || Number(l) < 1 || Number(l) > 100))
      throw new AsanaError(400, 'limit: Must be between 1 and 100');
  }

  private need(data: Json | null): Json {
    if (!data) throw new AsanaError(400, 'data: Missing input');
    return data;
  }

  private ok(data: unknown, status = 200, headers?: Record<string, string>): EmulatorResponse {
    return { status, body: { data }, headers };
  }

  private render(rich: Json, full: string[], q: URLSearchParams): Json {
    const f = parseOptFields(q);
    return f ? pick(rich, f, false) : pick(rich, full, true);
  }

  private page<T>(
    req: EmulatorRequest,
    items: T[],
    render: (item: T, fields: string[] | null) => unknown,
  ): EmulatorResponse {
    const fields = parseOptFields(req.query);
    const limitRaw = req.query.get('limit');
    const offsetRaw = req.query.get('offset');
    let start = 0;
    if (offsetRaw !== null) {
      const decoded = decodeOffset(offsetRaw);
      if (decoded === null || decoded > items.length)
        throw new AsanaError(400, 'offset: Your pagination token is invalid');
      start = decoded;
    }
    if (limitRaw === null) return this.ok(items.slice(start).map((i) => render(i, fields)));
    const limit = Number(limitRaw);
    const slice = items.slice(start, start + limit);
    const more = start + limit < items.length;
    let next_page: Json | null = null;
    if (more) {
      const offset = encodeOffset(start + limit);
      const qs = new URLSearchParams(req.query);
      qs.set('offset', offset);
      const path = `${req.path.slice(ASANA_BASE_PATH.length)}?${qs.toString()}`;
      next_page = { offset, path, uri: `https://app.asana.com${ASANA_BASE_PATH}${path}` };
    }
    return { status: 200, body: { data: slice.map((i) => render(i, fields)), next_page } };
  }

  // ---------------------------------------------------------------- lookups

  private defaultWorkspace(): string {
    const first = this.workspaces.keys().next();
    if (first.done) throw new AsanaError(400, 'workspace: Missing input');
    return first.value;
  }

  private task(ref: string): Task {
    let t: Task | undefined;
    // `external:<gid>` stands for the task whose external.gid it is, anywhere a task gid is accepted.
    if (ref.startsWith('external:')) {
      const ext = ref.slice('external:'.length);
      t = [...this.tasks.values()].find((x) => !x.deleted && x.external?.gid === ext);
    } else t = this.tasks.get(ref);
    if (!t || t.deleted) throw new AsanaError(404, `task: Unknown object: ${ref}`);
    return t;
  }
  private story(gid: string): Story {
    const s = this.stories.get(gid);
    if (!s || this.tasks.get(s.task)?.deleted) throw new AsanaError(404, `story: Unknown object: ${gid}`);
    return s;
  }
  private project(gid: string): Project {
    const p = this.projects.get(gid);
    if (!p) throw new AsanaError(404, `project: Unknown object: ${gid}`);
    return p;
  }
  private section(gid: string): Section {
    const s = this.sections.get(gid);
    if (!s) throw new AsanaError(404, `section: Unknown object: ${gid}`);
    return s;
  }
  private tag(gid: string): Tag {
    const t = this.tags.get(gid);
    if (!t) throw new AsanaError(404, `tag: Unknown object: ${gid}`);
    return t;
  }
  private customField(gid: string): CustomField {
    const f = this.customFields.get(gid);
    if (!f) throw new AsanaError(404, `custom_field: Unknown object: ${gid}`);
    return f;
  }
  private workspace(gid: string): Workspace {
    const w = this.workspaces.get(gid);
    if (!w) throw new AsanaError(404, `workspace: Unknown object: ${gid}`);
    return w;
  }
  private webhook(gid: string, actor: EmulatedUser): Webhook {
    const w = this.webhooks.get(gid);
    if (!w || w.owner !== actor.id) throw new AsanaError(404, `webhook: Unknown object: ${gid}`);
    return w;
  }
  /** A user reference as Asana accepts it: a gid, an email, or "me". */
  private user(ref: string, actor: EmulatedUser): EmulatedUser {
    const actors = this.kit!.actors;
    const u =
      ref === 'me' ? actor : (actors.get(ref) ?? (ref.includes('@') ? actors.byEmail(ref) : undefined));
    if (!u) throw new AsanaError(404, `user: Unknown object: ${ref}`);
    return u;
  }
  private firstSection(project: string): string | null {
    for (const s of this.sections.values()) if (s.project === project) return s.gid;
    return null;
  }
  private workspaceOf(gid: string): string | null {
    if (this.workspaces.has(gid)) return gid;
    return (
      this.projects.get(gid)?.workspace ??
      this.tasks.get(gid)?.workspace ??
      this.projects.get(this.sections.get(gid)?.project ?? '')?.workspace ??
      null
    );
  }

  // ---------------------------------------------------------------- rich records

  private userRef(gid: string | null): Json | null {
    if (gid === null) return null;
    const u = this.kit!.actors.get(gid);
    return u ? this.richUser(u) : { gid, resource_type: 'user', name: null, email: null };
  }
  private richUser(u: EmulatedUser): Json {
    return {
      gid: u.id,
      resource_type: 'user',
      name: u.name,
      email: u.email,
      photo: null,
      workspaces: [...this.workspaces.values()].map((w) => this.richWorkspace(w)),
    };
  }
  private richWorkspace(w: Workspace): Json {
    return {
      gid: w.gid,
      resource_type: 'workspace',
      name: w.name,
      is_organization: true,
      email_domains: ['example.com'],
    };
  }
  private richProject(p: Project): Json {
    const ws = this.workspaces.get(p.workspace);
    return {
      gid: p.gid,
      resource_type: 'project',
      name: p.name,
      archived: false,
      color: null,
      created_at: p.created_at,
      modified_at: p.modified_at,
      notes: '',
      public: true,
      workspace: ws ? this.richWorkspace(ws) : { gid: p.workspace, resource_type: 'workspace' },
      members: p.members.map((m) => this.userRef(m)),
      permalink_url: `${PERMALINK}/${p.gid}/list`,
    };
  }
  private richTag(t: Tag): Json {
    const ws = this.workspaces.get(t.workspace);
    return {
      gid: t.gid,
      resource_type: 'tag',
      name: t.name,
      color: t.color,
      notes: t.notes,
      created_at: t.created_at,
      followers: [],
      workspace: ws ? this.richWorkspace(ws) : { gid: t.workspace, resource_type: 'workspace' },
      permalink_url: `${PERMALINK}/${t.gid}/list`,
    };
  }
  private richSection(s: Section): Json {
    const p = this.projects.get(s.project);
    return {
      gid: s.gid,
      resource_type: 'section',
      name: s.name,
      created_at: s.created_at,
      project: p ? this.richProject(p) : { gid: s.project, resource_type: 'project' },
    };
  }
  private richTask(t: Task): Json {
    const ws = this.workspaces.get(t.workspace);
    const proj = (gid: string): Json => {
      const p = this.projects.get(gid);
      return p ? this.richProject(p) : { gid, resource_type: 'project' };
    };
    const sec = (gid: string | null): Json | null => {
      const s = gid === null ? undefined : this.sections.get(gid);
      return s ? this.richSection(s) : null;
    };
    const rich: Json = {
      gid: t.gid,
      resource_type: 'task',
      resource_subtype: 'default_task',
      name: t.name,
      notes: t.notes,
      html_notes: t.html_notes,
      completed: t.completed,
      completed_at: t.completed_at,
      completed_by: this.userRef(t.completed_by),
      assignee: this.userRef(t.assignee),
      assignee_status: 'upcoming',
      due_on: t.due_on,
      due_at: t.due_at,
      start_on: t.start_on,
      created_at: t.created_at,
      created_by: t.created_by === null ? null : { gid: t.created_by, resource_type: 'user' },
      modified_at: t.modified_at,
      workspace: ws ? this.richWorkspace(ws) : { gid: t.workspace, resource_type: 'workspace' },
      memberships: t.memberships.map((m) => ({ project: proj(m.project), section: sec(m.section) })),
      projects: [...new Set(t.memberships.map((m) => m.project))].map(proj),
      tags: t.tags.map((g) => ({ gid: g, resource_type: 'tag', name: this.tags.get(g)?.name ?? null })),
      followers: t.followers.map((f) => this.userRef(f)),
      parent: null,
      permalink_url: `${PERMALINK}/${t.memberships[0]?.project ?? 0}/${t.gid}`,
      num_subtasks: 0,
      liked: false,
      likes: [],
      num_likes: 0,
      hearted: false,
      hearts: [],
      num_hearts: 0,
      dependencies: [],
      dependents: [],
      custom_fields: this.taskCustomFields(t),
      actual_time_minutes: null,
      is_rendered_as_separator: false,
    };
    if (t.external) rich['external'] = { ...t.external };
    return rich;
  }
  /**
   * A custom field as Asana renders it; `value` (a task's option gid, or null) adds the task's
   * value (`enum_value`, `display_value`), and `enabled: false` when the field is on none of the
   * task's projects any more (the value stays; Asana then only lets it be cleared).
   */
  private richCustomField(f: CustomField, value: string | null | undefined, enabled = true): Json {
    const opt = (o: CustomField['enum_options'][number]): Json => ({
      gid: o.gid,
      resource_type: 'enum_option',
      name: o.name,
      enabled: o.enabled,
      color: o.color,
    });
    const rich: Json = {
      gid: f.gid,
      resource_type: 'custom_field',
      name: f.name,
      resource_subtype: f.type,
      type: f.type,
      enum_options: f.enum_options.map(opt),
      enabled,
      is_formula_field: false,
      is_value_read_only: f.locked,
      description: '',
      is_global_to_workspace: true,
      has_notifications_enabled: false,
    };
    if (value !== undefined) {
      const o = value === null ? undefined : f.enum_options.find((x) => x.gid === value);
      rich['enum_value'] = o ? opt(o) : null;
      rich['display_value'] = o ? o.name : null;
    }
    return rich;
  }
  private richCustomFieldSetting(p: Project, f: CustomField): Json {
    const project = { gid: p.gid, resource_type: 'project', name: p.name };
    return {
      gid: `${p.gid.slice(0, 8)}${f.gid.slice(-8)}`,
      resource_type: 'custom_field_setting',
      is_important: true,
      project,
      parent: project,
      custom_field: this.richCustomField(f, undefined),
    };
  }
  /** The fields of the task's projects (value or null), then values of fields no project has now. */
  private taskCustomFields(t: Task): Json[] {
    // Without Premium no project holds custom fields (not confirmed what Asana shows then: none).
    if (this.workspaces.get(t.workspace)?.premium === false) return [];
    const attached = [
      ...new Set(t.memberships.flatMap((m) => this.projects.get(m.project)?.custom_fields ?? [])),
    ];
    const out = attached.flatMap((g) => {
      const f = this.customFields.get(g);
      return f ? [this.richCustomField(f, t.custom_fields[g] ?? null)] : [];
    });
    for (const [g, v] of Object.entries(t.custom_fields)) {
      const f = this.customFields.get(g);
      if (f && !attached.includes(g)) out.push(this.richCustomField(f, v, false));
    }
    return out;
  }
  private renderTask(t: Task, q: URLSearchParams): Json {
    const f = parseOptFields(q);
    if (f) return pick(this.richTask(t), f, false);
    // `external` is conditional: part of the default record only once set.
    return pick(this.richTask(t), t.external ? [...TASK_FULL, 'external'] : TASK_FULL, true);
  }
  private richStory(s: Story): Json {
    const t = this.tasks.get(s.task);
    return {
      gid: s.gid,
      resource_type: 'story',
      created_at: s.created_at,
      created_by: this.userRef(s.created_by),
      type: s.type,
      resource_subtype: s.resource_subtype,
      text: s.text,
      html_text: s.html_text,
      is_pinned: s.is_pinned,
      is_edited: s.is_edited,
      is_editable: s.type === 'comment',
      target: { gid: s.task, resource_type: 'task', name: t?.name ?? null },
      source: 'api',
      hearted: false,
      hearts: [],
      num_hearts: 0,
      liked: false,
      likes: [],
      num_likes: 0,
      previews: [],
    };
  }
  private renderStory(s: Story, q: URLSearchParams): Json {
    return this.render(this.richStory(s), STORY_FULL, q);
  }
  private richWebhook(w: Webhook): Json {
    return {
      gid: w.gid,
      resource_type: 'webhook',
      active: w.active,
      resource: { gid: w.resource, resource_type: w.resource_type, name: this.nameOf(w.resource) },
      target: w.target,
      created_at: w.created_at,
      last_success_at: w.last_success_at,
      last_failure_at: w.last_failure_at,
      last_failure_content: w.last_failure_content,
      filters: w.filters,
    };
  }
  private nameOf(gid: string): string | null {
    return (
      this.tasks.get(gid)?.name ??
      this.projects.get(gid)?.name ??
      this.workspaces.get(gid)?.name ??
      this.sections.get(gid)?.name ??
      null
    );
  }

  // ---------------------------------------------------------------- tasks

  private createTask(data: Json, actor: EmulatedUser, req: EmulatorRequest): EmulatorResponse {
    const projects = (data['projects'] as string[] | undefined) ?? [];
    for (const p of projects) this.project(p);
    let workspace = data['workspace'] as string | undefined;
    if (workspace !== undefined) this.workspace(workspace);
    workspace ??= projects.length ? this.project(projects[0]!).workspace : undefined;
    // Asana needs a workspace, given or implied by projects/parent: "workspace: Missing input".
    if (workspace === undefined) throw new AsanaError(400, 'workspace: Missing input');
    const ext = data['external'] as { gid?: string; data?: string } | undefined;
    if (
      ext?.gid !== undefined &&
      [...this.tasks.values()].some((t) => !t.deleted && t.external?.gid === ext.gid)
    )
      throw new AsanaError(400, `external.gid: ${ext.gid} is already in use`);
    const at = this.clock.now();
    const t: Task = {
      gid: this.gids.take(),
      name: '',
      notes: '',
      html_notes: plainToRich(''),
      completed: false,
      completed_at: null,
      completed_by: null,
      assignee: null,
      due_on: null,
      due_at: null,
      start_on: null,
      created_at: at,
      modified_at: at,
      created_by: actor.id,
      workspace,
      memberships: projects.map((p) => ({ project: p, section: this.firstSection(p) })),
      tags: [],
      followers: [actor.id],
      external: ext ? { gid: ext.gid ?? null, data: ext.data ?? null } : null,
      custom_fields: {},
      deleted: false,
    };
    this.applyFields(t, data, actor, false);
    for (const tag of (data['tags'] as string[] | undefined) ?? []) {
      if (!this.tags.has(tag)) throw new AsanaError(400, `tags: Unknown object: ${tag}`);
      t.tags.push(tag);
    }
    t.modified_at = at;
    this.tasks.set(t.gid, t);
    const ref = this.taskRef(t);
    if (t.memberships.length === 0) this.emit(actor, 'added', ref, null, null, this.taskScopes(t));
    for (const m of t.memberships) {
      this.emit(actor, 'added', ref, { gid: m.project, resource_type: 'project' }, null, this.taskScopes(t));
      if (m.section)
        this.emit(
          actor,
          'added',
          ref,
          { gid: m.section, resource_type: 'section' },
          null,
          this.taskScopes(t),
        );
    }
    const host = req.headers['host'] ?? '127.0.0.1';
    return this.ok(this.renderTask(t, req.query), 201, {
      location: `http://${host}${ASANA_BASE_PATH}/tasks/${t.gid}`,
    });
  }

  private updateTask(t: Task, data: Json, actor: EmulatedUser): Task {
    const ext = data['external'] as { gid?: string; data?: string } | undefined;
    if (
      ext?.gid !== undefined &&
      [...this.tasks.values()].some((x) => x !== t && !x.deleted && x.external?.gid === ext.gid)
    )
      throw new AsanaError(400, `external.gid: ${ext.gid} is already in use`);
    const changed = this.applyFields(t, data, actor, true);
    if (ext) {
      t.external = { gid: ext.gid ?? t.external?.gid ?? null, data: ext.data ?? t.external?.data ?? null };
      changed.push('external');
    }
    if (changed.length) {
      t.modified_at = this.clock.now();
      for (const field of changed)
        this.emit(actor, 'changed', this.taskRef(t), null, { field, action: 'changed' }, this.taskScopes(t));
    }
    return t;
  }

  /** Applies writable fields; returns the fields whose value changed (with system stories for the notable ones). */
  private applyFields(t: Task, data: Json, actor: EmulatedUser, stories: boolean): string[] {
    const changed: string[] = [];
    const sys = (subtype: string, text: string): void => {
      if (stories) this.addStory(t, 'system', subtype, text, actor, false);
    };
    // Checked before anything changes: a refused custom field value refuses the whole request.
    const customFields = 'custom_fields' in data ? this.customFieldWrites(t, data['custom_fields']) : [];
    if ('name' in data && data['name'] !== t.name) {
      t.name = String(data['name']);
      changed.push('name');
      sys('name_changed', `changed the name to "${t.name}"`);
    }
    if ('html_notes' in data && 'notes' in data)
      throw new AsanaError(400, 'notes: You may only provide one of notes or html_notes');
    if ('html_notes' in data) {
      const html = String(data['html_notes']);
      const problem = richTextProblem(html, 'html_notes');
      if (problem) throw new AsanaError(400, problem);
      if (html !== t.html_notes) {
        t.html_notes = html;
        t.notes = richToPlain(html);
        changed.push('notes', 'html_notes');
        sys('notes_changed', 'changed the description');
      }
    } else if ('notes' in data && data['notes'] !== t.notes) {
      t.notes = String(data['notes']);
      t.html_notes = plainToRich(t.notes);
      changed.push('notes', 'html_notes');
      sys('notes_changed', 'changed the description');
    }
    if ('completed' in data && data['completed'] !== t.completed) {
      t.completed = data['completed'] === true;
      t.completed_at = t.completed ? this.clock.now() : null;
      t.completed_by = t.completed ? actor.id : null;
      changed.push('completed');
      sys(
        t.completed ? 'marked_complete' : 'marked_incomplete',
        t.completed ? 'marked this task complete' : 'marked incomplete',
      );
    }
    if ('assignee' in data) {
      const ref = data['assignee'] as string | null;
      const gid = ref === null ? null : this.userOr400(ref, actor, 'assignee').id;
      if (gid !== t.assignee) {
        t.assignee = gid;
        changed.push('assignee');
        if (gid === null) sys('unassigned', 'unassigned');
        else sys('assigned', `assigned to ${this.kit!.actors.get(gid)?.name ?? gid}`);
      }
    }
    if ('due_on' in data && 'due_at' in data && data['due_on'] != null && data['due_at'] != null)
      throw new AsanaError(400, 'due_on: You may only provide one of due_on or due_at');
    if ('due_on' in data && data['due_on'] !== t.due_on) {
      t.due_on = (data['due_on'] as string | null) ?? null;
      t.due_at = null;
      changed.push('due_on');
      sys('due_date_changed', t.due_on ? `changed the due date to ${t.due_on}` : 'removed the due date');
    }
    if ('due_at' in data && data['due_at'] !== t.due_at) {
      t.due_at = (data['due_at'] as string | null) ?? null;
      t.due_on = t.due_at ? t.due_at.slice(0, 10) : null;
      changed.push('due_at');
      sys('due_date_changed', t.due_at ? `changed the due date to ${t.due_at}` : 'removed the due date');
    }
    if ('start_on' in data && data['start_on'] !== t.start_on) {
      t.start_on = (data['start_on'] as string | null) ?? null;
      changed.push('start_on');
    }
    let customChanged = false;
    for (const { field, option } of customFields) {
      if ((t.custom_fields[field.gid] ?? null) === option) continue;
      if (option === null) delete t.custom_fields[field.gid];
      else t.custom_fields[field.gid] = option;
      customChanged = true;
      const name = field.enum_options.find((o) => o.gid === option)?.name;
      sys(
        'enum_custom_field_changed',
        name === undefined ? `cleared ${field.name}` : `changed ${field.name} to "${name}"`,
      );
    }
    // Asana's events name the task property (`custom_fields`), not the one field (not confirmed).
    if (customChanged) changed.push('custom_fields');
    return changed;
  }

  /**
   * `custom_fields: {<field gid>: <enum option gid> | null}` as Asana checks it: Premium (402),
   * known fields of the task's projects (400), not locked (403), enabled options of the field (400);
   * null clears (also a value whose field left the task's projects, which is all Asana allows then).
   */
  private customFieldWrites(t: Task, raw: unknown): { field: CustomField; option: string | null }[] {
    if (!isRec(raw)) throw new AsanaError(400, 'custom_fields: Must be an object');
    const out: { field: CustomField; option: string | null }[] = [];
    for (const [gid, value] of Object.entries(raw)) {
      this.needPremium(t.workspace);
      const field = this.customFields.get(gid);
      if (!field) throw new AsanaError(400, `custom_fields: Unknown object: ${gid}`);
      const onProject = t.memberships.some((m) => this.projects.get(m.project)?.custom_fields.includes(gid));
      if (field.locked)
        throw new AsanaError(
          403,
          `custom_fields: ${field.name} is locked; only the user who locked it can edit it`,
        );
      if (value === null) {
        out.push({ field, option: null });
        continue;
      }
      if (!onProject)
        throw new AsanaError(
          400,
          `custom_fields: Custom field ${gid} is not on any project of task ${t.gid}`,
        );
      const option = field.enum_options.find((o) => o.gid === value);
      if (typeof value !== 'string' || !option)
        throw new AsanaError(
          400,
          `custom_fields.${gid}: Not a valid enum option of ${field.name}: ${String(value)}`,
        );
      if (!option.enabled)
        throw new AsanaError(400, `custom_fields.${gid}: Enum option ${value} of ${field.name} is disabled`);
      out.push({ field, option: value });
    }
    return out;
  }

  /** Custom fields are a Premium feature: a workspace without it answers 402 (Asana since 2018-03). */
  private needPremium(workspace: string): void {
    if (this.workspaces.get(workspace)?.premium === false)
      throw new AsanaError(
        402,
        'Custom fields are not available for free: this workspace does not have Asana Premium',
      );
  }

  private userOr400(ref: string, actor: EmulatedUser, field: string): EmulatedUser {
    try {
      return this.user(ref, actor);
    } catch {
      throw new AsanaError(400, `${field}: Not a recognized ID: ${ref}`);
    }
  }

  private deleteTask(t: Task, actor: EmulatedUser): EmulatorResponse {
    t.deleted = true;
    t.modified_at = this.clock.now();
    this.emit(actor, 'deleted', this.taskRef(t), null, null, this.taskScopes(t));
    return this.ok({});
  }

  private getTasks(req: EmulatorRequest): EmulatorResponse {
    const q = req.query;
    const project = q.get('project');
    const section = q.get('section');
    const tag = q.get('tag');
    const assignee = q.get('assignee');
    const workspace = q.get('workspace');
    if (project === null && section === null && tag === null) {
      // Asana: a project or tag, or else both assignee and workspace.
      if (workspace === null) throw new AsanaError(400, 'workspace: Missing input');
      if (assignee === null) throw new AsanaError(400, 'assignee: Missing input');
    }
    if (project !== null) this.project(project);
    if (section !== null) this.section(section);
    if (workspace !== null) this.workspace(workspace);
    const assigneeGid = assignee === null ? null : this.userOr400(assignee, req.actor, 'assignee').id;
    const modifiedSince = this.timeParam(q, 'modified_since');
    const completedSince = this.timeParam(q, 'completed_since');
    return this.listTasks(req, (t) => {
      if (project !== null && !t.memberships.some((m) => m.project === project)) return false;
      if (section !== null && !t.memberships.some((m) => m.section === section)) return false;
      if (tag !== null && !t.tags.includes(tag)) return false;
      if (workspace !== null && t.workspace !== workspace) return false;
      if (assigneeGid !== null && t.assignee !== assigneeGid) return false;
      if (modifiedSince !== null && Date.parse(t.modified_at) < modifiedSince) return false;
      if (completedSince !== null && t.completed && Date.parse(t.completed_at ?? '') < completedSince)
        return false;
      return true;
    });
  }

  private timeParam(q: URLSearchParams, name: string): number | null {
    const v = q.get(name);
    if (v === null) return null;
    if (v === 'now') return Date.now();
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) throw new AsanaError(400, `${name}: Not a valid date-time: ${v}`);
    return ms;
  }

  private listTasks(req: EmulatorRequest, keep: (t: Task) => boolean): EmulatorResponse {
    const list = [...this.tasks.values()].filter((t) => !t.deleted && keep(t));
    return this.page(req, list, (t, f) => pick(this.richTask(t), f ?? TASK_COMPACT, !f));
  }

  private addTaskToSection(section: Section, data: Json, actor: EmulatedUser): EmulatorResponse {
    const t = this.task(String(data['task']));
    const ref = this.taskRef(t);
    const existing = t.memberships.find((m) => m.project === section.project);
    if (existing) {
      if (existing.section !== section.gid) {
        const from = existing.section;
        existing.section = section.gid;
        if (from)
          this.emit(actor, 'removed', ref, { gid: from, resource_type: 'section' }, null, this.taskScopes(t));
        this.emit(
          actor,
          'added',
          ref,
          { gid: section.gid, resource_type: 'section' },
          null,
          this.taskScopes(t),
        );
        const fromName = from ? (this.sections.get(from)?.name ?? '') : '';
        this.addStory(
          t,
          'system',
          'section_changed',
          `moved this task from "${fromName}" to "${section.name}"`,
          actor,
          false,
        );
        t.modified_at = this.clock.now();
      }
    } else {
      t.memberships.push({ project: section.project, section: section.gid });
      this.emit(
        actor,
        'added',
        ref,
        { gid: section.project, resource_type: 'project' },
        null,
        this.taskScopes(t),
      );
      this.emit(
        actor,
        'added',
        ref,
        { gid: section.gid, resource_type: 'section' },
        null,
        this.taskScopes(t),
      );
      this.addStory(
        t,
        'system',
        'added_to_project',
        `added to ${this.projects.get(section.project)?.name ?? ''}`,
        actor,
        false,
      );
      t.modified_at = this.clock.now();
    }
    return this.ok({});
  }

  // ---------------------------------------------------------------- tags

  private createTag(data: Json, pathWorkspace: string | undefined, req: EmulatorRequest): EmulatorResponse {
    const ws = pathWorkspace ?? (data['workspace'] as string | undefined);
    // Asana: "Every tag is required to be created in a specific workspace or organization".
    if (ws === undefined) throw new AsanaError(400, 'workspace: Missing input');
    this.workspace(ws);
    if (typeof data['name'] !== 'string' || data['name'].trim() === '')
      throw new AsanaError(400, 'name: Missing input');
    // Asana lets two tags share a name (tags are told apart by gid); so does the emulator.
    const t: Tag = {
      gid: this.gids.take(),
      name: data['name'],
      workspace: ws,
      color: (data['color'] as string | null | undefined) ?? null,
      notes: typeof data['notes'] === 'string' ? data['notes'] : '',
      created_at: this.clock.now(),
    };
    this.tags.set(t.gid, t);
    return this.ok(this.render(this.richTag(t), TAG_FULL, req.query), 201);
  }

  /**
   * addTag / removeTag. The event is the one the spec describes for a collaborator added to a task
   * (an array field): `changed` on the task with `change {field: 'tags', action: 'added'|'removed'}`.
   * `modified_at` is left alone: tags are not among the changes the spec says move it (an
   * assumption; see README), and no system story is written.
   */
  private tagTask(t: Task, data: Json, actor: EmulatedUser, how: 'added' | 'removed'): EmulatorResponse {
    const gid = String(data['tag']);
    const tag = this.tags.get(gid);
    if (!tag) throw new AsanaError(400, `tag: Not a recognized ID: ${gid}`);
    if (tag.workspace !== t.workspace)
      throw new AsanaError(400, `tag: ${gid} is not in the task's workspace ${t.workspace}`);
    const has = t.tags.includes(gid);
    if (how === 'added' && !has) t.tags.push(gid);
    else if (how === 'removed' && has) t.tags = t.tags.filter((g) => g !== gid);
    else return this.ok({}); // already so: nothing changed, no event
    this.emit(actor, 'changed', this.taskRef(t), null, { field: 'tags', action: how }, [
      ...this.taskScopes(t),
      gid,
    ]);
    return this.ok({});
  }

  private getMemberships(req: EmulatorRequest): EmulatorResponse {
    const parent = req.query.get('parent');
    const member = req.query.get('member');
    if (parent === null && member === null) throw new AsanaError(400, 'parent: Missing input');
    const rows: Json[] = [];
    for (const p of this.projects.values()) {
      if (parent !== null && p.gid !== parent) continue;
      for (const m of p.members) {
        if (member !== null && m !== member) continue;
        rows.push({
          gid: `${p.gid}${m}`.slice(0, 16),
          resource_type: 'membership',
          resource_subtype: 'project_membership',
          parent: { gid: p.gid, resource_type: 'project', name: p.name },
          member: this.userRef(m),
          access_level: 'editor',
        });
      }
    }
    if (parent !== null && !this.projects.has(parent))
      throw new AsanaError(404, `parent: Unknown object: ${parent}`);
    return this.page(req, rows, (r, f) =>
      pick(r, f ?? ['resource_type', 'resource_subtype', 'parent.name', 'member.name', 'access_level'], !f),
    );
  }

  // ---------------------------------------------------------------- stories

  private addStory(
    t: Task,
    type: 'comment' | 'system',
    subtype: string,
    text: string,
    actor: EmulatedUser,
    html: boolean,
  ): Story {
    const s: Story = {
      gid: this.gids.take(),
      task: t.gid,
      type,
      resource_subtype: subtype,
      text: html ? richToPlain(text) : text,
      html_text: html ? text : plainToRich(text),
      created_at: this.clock.now(),
      created_by: actor.id,
      is_edited: false,
      is_pinned: false,
    };
    this.stories.set(s.gid, s);
    this.emit(
      actor,
      'added',
      { gid: s.gid, resource_type: 'story', resource_subtype: subtype },
      this.taskRef(t),
      null,
      [s.gid, ...this.taskScopes(t)],
    );
    return s;
  }

  private createStory(t: Task, data: Json, actor: EmulatedUser, req: EmulatorRequest): EmulatorResponse {
    const { text, html } = this.storyText(data);
    const s = this.addStory(t, 'comment', 'comment_added', text, actor, html);
    if (data['is_pinned'] === true) s.is_pinned = true;
    // Asana: adding a story counts as modifying the task.
    t.modified_at = s.created_at;
    return this.ok(this.renderStory(s, req.query), 201);
  }

  private storyText(data: Json): { text: string; html: boolean } {
    if ('html_text' in data && 'text' in data)
      throw new AsanaError(400, 'text: You may only provide one of text or html_text');
    if (typeof data['html_text'] === 'string') {
      const problem = richTextProblem(data['html_text'], 'html_text');
      if (problem) throw new AsanaError(400, problem);
      return { text: data['html_text'], html: true };
    }
    if (typeof data['text'] === 'string' && data['text'].trim() !== '')
      return { text: data['text'], html: false };
    throw new AsanaError(400, 'text: Missing input');
  }

  private updateStory(s: Story, data: Json, actor: EmulatedUser): Story {
    if (s.type !== 'comment') throw new AsanaError(403, 'Forbidden');
    // Only the author may edit a comment's text.
    if (('text' in data || 'html_text' in data) && s.created_by !== actor.id)
      throw new AsanaError(403, 'Forbidden');
    const fields: string[] = [];
    if ('text' in data || 'html_text' in data) {
      const { text, html } = this.storyText(data);
      s.text = html ? richToPlain(text) : text;
      s.html_text = html ? text : plainToRich(text);
      s.is_edited = true;
      fields.push('text');
    }
    if (typeof data['is_pinned'] === 'boolean' && data['is_pinned'] !== s.is_pinned) {
      s.is_pinned = data['is_pinned'];
      fields.push('is_pinned');
    }
    const t = this.tasks.get(s.task)!;
    for (const field of fields)
      this.emit(
        actor,
        'changed',
        { gid: s.gid, resource_type: 'story', resource_subtype: s.resource_subtype },
        this.taskRef(t),
        { field, action: 'changed' },
        [s.gid, ...this.taskScopes(t)],
      );
    return s;
  }

  private deleteStory(s: Story, actor: EmulatedUser): EmulatorResponse {
    if (s.type !== 'comment' || s.created_by !== actor.id) throw new AsanaError(403, 'Forbidden');
    this.stories.delete(s.gid);
    const t = this.tasks.get(s.task)!;
    this.emit(
      actor,
      'deleted',
      { gid: s.gid, resource_type: 'story', resource_subtype: s.resource_subtype },
      this.taskRef(t),
      null,
      [s.gid, ...this.taskScopes(t)],
    );
    return this.ok({});
  }

  // ---------------------------------------------------------------- events

  private taskRef(t: Task): ResourceRef {
    return { gid: t.gid, resource_type: 'task', resource_subtype: 'default_task' };
  }

  private taskScopes(t: Task): string[] {
    return [t.gid, ...new Set(t.memberships.map((m) => m.project)), t.workspace];
  }

  private emit(
    actor: EmulatedUser,
    action: AsanaEvent['action'],
    resource: ResourceRef,
    parent: ResourceRef | null,
    change: AsanaEvent['change'],
    scopes: string[],
  ): void {
    const e: AsanaEvent = {
      seq: ++this.seq,
      user: actor.id,
      created_at: this.clock.peek(),
      action,
      resource,
      parent,
      change,
      scopes,
    };
    this.events.push(e);
    this.batch.push(e);
  }

  private compact(e: AsanaEvent): Json {
    const out: Json = {
      user: e.user === null ? null : { gid: e.user, resource_type: 'user' },
      created_at: e.created_at,
      action: e.action,
      resource: e.resource,
      parent: e.parent,
    };
    if (e.change) out['change'] = e.change;
    return out;
  }

  private getEvents(req: EmulatorRequest): EmulatorResponse {
    const resource = req.query.get('resource')!;
    if (this.workspaceOf(resource) === null)
      throw new AsanaError(404, `resource: Unknown object: ${resource}`);
    const token = req.query.get('sync');
    const st = token === null ? undefined : this.syncTokens.get(token);
    if (!st || st.expired || st.resource !== resource) {
      // First call (or an expired/foreign token): 412 with a fresh token positioned at "now".
      const fresh = this.newSyncToken(resource, this.seq);
      return { status: 412, body: { errors: [{ message: SYNC_INVALID }], sync: fresh } };
    }
    const pending = this.events.filter((e) => e.seq > st.afterSeq && e.scopes.includes(resource));
    const slice = pending.slice(0, 100);
    const last = slice.at(-1)?.seq ?? this.seq;
    const afterSeq = pending.length > 100 ? last : this.seq;
    const data = slice.map((e) => ({ ...this.compact(e), type: e.resource.resource_type }));
    return {
      status: 200,
      body: { data, sync: this.newSyncToken(resource, afterSeq), has_more: pending.length > 100 },
    };
  }

  private newSyncToken(resource: string, afterSeq: number): string {
    const tok = randomBytes(16).toString('hex');
    this.syncTokens.set(tok, { resource, afterSeq, expired: false });
    return tok;
  }

  // ---------------------------------------------------------------- webhooks

  private async createWebhook(
    data: Json,
    actor: EmulatedUser,
    req: EmulatorRequest,
  ): Promise<EmulatorResponse> {
    const resource = String(data['resource']);
    const target = String(data['target']);
    const filters = (data['filters'] as WebhookFilter[] | undefined) ?? [];
    const resourceType = this.resourceTypeOf(resource);
    if (resourceType === null) throw new AsanaError(404, `resource: Unknown object: ${resource}`);
    // Asana: webhooks on a workspace (or team/portfolio) need filters.
    if (resourceType === 'workspace' && filters.length === 0)
      throw new AsanaError(400, 'filters: Webhooks on a workspace require filters');
    const secret = randomBytes(32).toString('hex');
    // The handshake happens while this request is open; the target must echo X-Hook-Secret.
    let ok = false;
    let detail = '';
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'x-hook-secret': secret, 'content-length': '0' },
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      ok = (res.status === 200 || res.status === 204) && res.headers.get('x-hook-secret') === secret;
      detail = `status ${res.status}`;
    } catch (e) {
      detail = e instanceof Error ? e.message : String(e);
    }
    if (!ok)
      throw new AsanaError(
        400,
        `target: The remote server did not respond with the handshake secret (${detail})`,
      );
    const w: Webhook = {
      gid: this.gids.take(),
      resource,
      resource_type: resourceType,
      target,
      secret,
      filters,
      owner: actor.id,
      created_at: this.clock.now(),
      active: true,
      last_success_at: null,
      last_failure_at: null,
      last_failure_content: '',
      deliveries: 0,
    };
    this.webhooks.set(w.gid, w);
    // Asana's documented response carries the secret beside `data`.
    return {
      status: 201,
      body: { data: this.render(this.richWebhook(w), WEBHOOK_FULL, req.query), 'X-Hook-Secret': secret },
    };
  }

  private resourceTypeOf(gid: string): string | null {
    if (this.workspaces.has(gid)) return 'workspace';
    if (this.projects.has(gid)) return 'project';
    if (this.tasks.has(gid) && !this.tasks.get(gid)!.deleted) return 'task';
    if (this.sections.has(gid)) return 'section';
    return null;
  }

  private matches(w: Webhook, e: AsanaEvent): boolean {
    if (!e.scopes.includes(w.resource)) return false;
    if (w.filters.length === 0) return true;
    return w.filters.some(
      (f) =>
        (f.resource_type === undefined || f.resource_type === e.resource.resource_type) &&
        (f.resource_subtype === undefined || f.resource_subtype === e.resource.resource_subtype) &&
        (f.action === undefined || f.action === e.action) &&
        (f.fields === undefined || (e.change !== null && f.fields.includes(e.change.field))),
    );
  }

  private fanOut(events: AsanaEvent[], kit: EmulatorKit): void {
    for (const w of this.webhooks.values()) {
      if (!w.active) continue;
      const mine = events.filter((e) => this.matches(w, e));
      if (mine.length) this.deliver(w, mine, kit);
    }
  }

  private deliver(w: Webhook, events: AsanaEvent[], kit: EmulatorKit): void {
    const body = JSON.stringify({ events: events.map((e) => this.compact(e)) });
    const signature = createHmac('sha256', w.secret).update(body).digest('hex');
    w.deliveries++;
    // Asana documents no delivery-id header; the id only names the delivery in the emulator's log.
    kit.webhooks.deliver(`asana-${w.gid}-${++this.deliverySeq}`, w.target, () => ({
      headers: { 'x-hook-signature': signature },
      body,
    }));
  }
}

/**
 * The spec types a custom field value as a string, while Asana's custom-fields guide says null
 * clears one: the body validated against the spec leaves null values out.
 */
function withoutNullCustomFields(body: unknown): unknown {
  if (!isRec(body) || !isRec(body['data']) || !isRec(body['data']['custom_fields'])) return body;
  const cf = Object.fromEntries(Object.entries(body['data']['custom_fields']).filter(([, v]) => v !== null));
  return { ...body, data: { ...body['data'], custom_fields: cf } };
}

function encodeOffset(i: number): string {
  return Buffer.from(JSON.stringify({ o: i, v: 1 })).toString('base64url');
}

function decodeOffset(s: string): number | null {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as { o?: unknown };
    return typeof v.o === 'number' && Number.isInteger(v.o) && v.o >= 0 ? v.o : null;
  } catch {
    return null;
  }
}
