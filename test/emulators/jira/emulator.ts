/**
 * Jira Cloud REST v3 emulator (test infrastructure, never the real Jira): issues, the workflow's
 * transitions, comments, issue properties, JQL search, users, projects, priorities, statuses, and
 * admin webhooks signed with `X-Hub-Signature`. Requests under /rest/api/3 are validated against
 * Atlassian's published swagger (shared/specs/jira/swagger-v3.v3.json); the field rules the
 * swagger leaves open (`fields` is a free map) are checked here as Jira does.
 */
import { createHmac } from 'node:crypto';
import type { EmulatedUser } from '../common/actors.ts';
import { OpenApiSpec, type SpecOperation } from '../common/openapi.ts';
import type { EmulatorKit, EmulatorRequest, EmulatorResponse, PlatformEmulator } from '../common/server.ts';
import type { RetryPolicy } from '../common/webhooks.ts';
import {
  isBounded,
  JqlError,
  JqlNotEmulated,
  matches,
  parseJql,
  sortIssues,
  type JqlIssue,
  type Query,
} from './jql.ts';
import {
  adfText,
  CATEGORIES,
  isAdfDoc,
  ISSUE_TYPES,
  jiraTime,
  PRIORITIES,
  priorityById,
  STATUSES,
  statusById,
  WEBHOOK_EVENTS,
  type AdminWebhook,
  type ChangeItem,
  type Project,
  type Status,
  type StoredComment,
  type StoredIssue,
  type WebhookEvent,
} from './model.ts';

export interface JiraUserSeed {
  accountId: string;
  displayName: string;
  email: string | null;
  /**
   * The user's profile visibility hides their email (Jira Cloud's "Only you"): `emailAddress` is
   * left out of every user object the API returns (issue fields, comments, changelog authors,
   * webhook `user`, user search, `/user`, `/myself`), and `user/search?query=` does not match it.
   */
  hideEmail?: boolean;
  /** API tokens (Basic auth) or OAuth access tokens (Bearer) that act as this user. */
  tokens: string[];
  /** The account Lockstep is configured with. */
  bot?: boolean;
}

export interface JiraIssueSeed {
  project: string;
  summary: string;
  description?: unknown;
  issuetype?: string;
  status?: string;
  priority?: string;
  assignee?: string | null;
  reporter?: string;
  labels?: string[];
  duedate?: string;
  properties?: Record<string, unknown>;
}

export interface JiraSeed {
  users?: JiraUserSeed[];
  projects?: { key: string; name: string; id?: string; lead?: string }[];
  issues?: JiraIssueSeed[];
  webhooks?: { name: string; url: string; events: string[]; jql?: string; secret?: string }[];
}

const API = '/rest/api/3';

/**
 * Default search lag. Atlassian documents no figure, only that results "might not be immediately
 * visible"; a couple of seconds is a plausible delay for a real index and long enough to expose code
 * that reads its own writes through search.
 */
export const DEFAULT_SEARCH_LAG_MS = 2000;

/** A write applied, then answered after `delayMs`, or with `status` instead (a lost response). */
export interface AfterApplyFault {
  method?: string;
  pathPrefix?: string;
  count?: number;
  delayMs?: number;
  status?: number;
  /** Hold the answer until `POST /_emulator/jira/after-apply/release`. */
  hold?: boolean;
  /** Only writes by this account id (e.g. the bot's, so people's writes in the same test pass). */
  actor?: string;
}
const ADMIN_WEBHOOKS = '/rest/webhooks/1.0/webhook';
const NOT_FOUND_ISSUE = 'Issue does not exist or you do not have permission to see it.';
const ADF_REQUIRED = 'Operation value must be an Atlassian Document (see the Atlassian Document Format)';
const CREATE_FIELDS = new Set([
  'project',
  'issuetype',
  'summary',
  'description',
  'priority',
  'assignee',
  'reporter',
  'labels',
  'duedate',
]);
const EDIT_FIELDS = new Set(['summary', 'description', 'priority', 'assignee', 'labels', 'duedate']);
/** Every field GET issue returns by default (`*all`); `comment` is not navigable. */
const ALL_FIELDS = [
  'summary',
  'description',
  'status',
  'priority',
  'assignee',
  'reporter',
  'creator',
  'labels',
  'duedate',
  'issuetype',
  'project',
  'created',
  'updated',
  'resolution',
  'resolutiondate',
  'statuscategorychangedate',
  'comment',
];

type Body = Record<string, unknown>;
type Errors = Record<string, string>;

const json = (status: number, body: unknown, headers?: Record<string, string>): EmulatorResponse =>
  headers ? { status, body, headers } : { status, body };
/**
 * A request Jira Cloud would answer that the emulator does not model: a plain 501, in no vendor's
 * error shape, so a test can never mistake it for Jira's answer.
 */
const notEmulated = (detail: string): EmulatorResponse => ({
  status: 501,
  body: { error: 'not_emulated', detail },
});
const jiraError = (status: number, errorMessages: string[], errors: Errors = {}): EmulatorResponse =>
  json(status, { errorMessages, errors });

/**
 * Jira's documented retry: on 408, 409, 425, 429, 5xx, connection failures and timeouts, at most
 * 5 retries 5–15 minutes apart (the shell compresses these with webhookTimeScale). The real gaps
 * are randomised inside that range; here they are fixed so tests are deterministic.
 */
export const JIRA_RETRY_POLICY: RetryPolicy = {
  delaysMs: [300_000, 450_000, 600_000, 750_000, 900_000],
  retryOn: (status) => [408, 409, 425, 429].includes(status) || status >= 500,
  // Atlassian does not publish the sender timeout; 10 s is an assumption.
  timeoutMs: 10_000,
};

export class JiraEmulator implements PlatformEmulator {
  readonly platform = 'jira' as const;
  readonly retryPolicy = JIRA_RETRY_POLICY;
  private readonly spec = new OpenApiSpec('jira/swagger-v3.v3.json');

  private kit: EmulatorKit | null = null;
  private baseUrl = 'http://127.0.0.1';
  private projects = new Map<string, Project>();
  private issues = new Map<string, StoredIssue>();
  private keyIndex = new Map<string, string>();
  private projectCounters = new Map<string, number>();
  private webhooks = new Map<number, AdminWebhook>();
  private nextIssueId = 10000;
  private nextCommentId = 10000;
  private nextHistoryId = 10000;
  private nextProjectId = 10000;
  private nextWebhookId = 1;
  private nextDeliveryId = 1;
  private lastMs = 0;

  /**
   * Search is eventually consistent on Jira Cloud: results "might not be immediately visible"
   * (search/jql docs). Search answers from the issues as they were `searchLagMs` ago (snapshots
   * taken after each write, visible once they are that old); reads by id/key are always current,
   * and ids in `reconcileIssues` are read current as Jira's read-after-write option promises.
   */
  searchLagMs: number;
  private indexed = new Map<string, StoredIssue>();
  private pendingIndex: { visibleAtMs: number; issues: Map<string, StoredIssue> }[] = [];
  /**
   * Issue properties JQL can search (`issue.property[key]…`): on Jira Cloud only those an app's
   * entity-property module indexes. An API-token integration has none, so by default none: a
   * property clause finds nothing (as on Jira). The control API can declare some.
   */
  indexedProperties = new Set<string>();
  /** Writes that are applied, then answered late and/or with an error (a lost response). */
  private afterApply: (AfterApplyFault & { remaining: number })[] = [];
  /** Answers held by `hold` faults, sent on release. */
  private held: (() => void)[] = [];
  /** Account ids whose profile visibility hides their email (JiraUserSeed.hideEmail). */
  private readonly emailHidden = new Set<string>();

  constructor(opts: { searchLagMs?: number } = {}) {
    this.searchLagMs = opts.searchLagMs ?? DEFAULT_SEARCH_LAG_MS;
  }

  tokenOf(req: Omit<EmulatorRequest, 'actor' | 'operation'>): string | null {
    const h = req.headers['authorization'];
    if (typeof h !== 'string') return null;
    const basic = /^Basic\s+(.+)$/i.exec(h);
    if (basic) {
      const decoded = Buffer.from(basic[1] ?? '', 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      // The API token decides who acts; the email beside it is not checked.
      return colon > 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : null;
    }
    const bearer = /^Bearer\s+(.+)$/i.exec(h);
    return bearer ? (bearer[1] ?? null) : null;
  }

  unauthenticated(): EmulatorResponse {
    return jiraError(401, ['You are not authenticated. Authentication required to perform this operation.']);
  }

  operationOf(req: Omit<EmulatorRequest, 'actor' | 'operation'>): string | null {
    if (req.path.startsWith(ADMIN_WEBHOOKS)) return `adminWebhook.${req.method.toLowerCase()}`;
    return this.spec.match(req.method, req.path)?.operationId ?? null;
  }

  rateLimited(retryAfterSec: number, req: EmulatorRequest): EmulatorResponse {
    // Burst limits are per endpoint and method: GET/POST 100/s, PUT/DELETE 50/s.
    const limit = req.method === 'PUT' || req.method === 'DELETE' ? 50 : 100;
    const reset = new Date(Date.now() + retryAfterSec * 1000).toISOString();
    return json(
      429,
      { errorMessages: ['Rate limit exceeded.'], errors: {} },
      {
        'retry-after': String(retryAfterSec),
        'x-ratelimit-reset': reset,
        'ratelimit-reason': 'jira-burst-based',
        'x-ratelimit-limit': String(limit),
        'x-ratelimit-remaining': '0',
      },
    );
  }

  serverError(status: number): EmulatorResponse {
    return jiraError(status, ['Internal server error.']);
  }

  reset(kit: EmulatorKit): void {
    this.kit = kit;
    this.projects.clear();
    this.issues.clear();
    this.indexed.clear();
    this.pendingIndex = [];
    this.afterApply = [];
    for (const send of this.held.splice(0)) send();
    this.indexedProperties.clear();
    this.emailHidden.clear();
    this.keyIndex.clear();
    this.projectCounters.clear();
    this.webhooks.clear();
    this.nextIssueId = 10000;
    this.nextCommentId = 10000;
    this.nextHistoryId = 10000;
    this.nextProjectId = 10000;
    this.nextWebhookId = 1;
    this.nextDeliveryId = 1;
  }

  seed(doc: unknown, kit: EmulatorKit): void {
    this.kit = kit;
    const s = (doc ?? {}) as JiraSeed;
    for (const u of s.users ?? [])
      kit.actors.add({
        id: u.accountId,
        name: u.displayName,
        email: u.email,
        isBot: u.bot === true,
        tokens: u.tokens,
      });
    for (const u of s.users ?? []) if (u.hideEmail === true) this.emailHidden.add(u.accountId);
    for (const p of s.projects ?? []) {
      const id = p.id ?? String(this.nextProjectId++);
      this.projects.set(p.key, { id, key: p.key, name: p.name, leadAccountId: p.lead ?? null });
    }
    const seeder = kit.actors.all().find((u) => u.isBot) ?? kit.actors.all()[0];
    for (const i of s.issues ?? []) {
      const reporter = i.reporter ?? seeder?.id;
      if (!reporter) throw new Error('seeding jira issues: seed at least one user first');
      const at = this.tick();
      const status = STATUSES.find((x) => x.name === (i.status ?? 'To Do'));
      if (!status) throw new Error(`seeding jira issue "${i.summary}": unknown status ${i.status ?? ''}`);
      const issue = this.newIssue({
        projectKey: i.project,
        issueTypeId: ISSUE_TYPES.find((t) => t.name === (i.issuetype ?? 'Task'))?.id ?? '10001',
        summary: i.summary,
        description: i.description ?? null,
        priorityId: PRIORITIES.find((p) => p.name === (i.priority ?? 'Medium'))?.id ?? '3',
        assigneeId: i.assignee ?? null,
        reporterId: reporter,
        creatorId: reporter,
        labels: i.labels ?? [],
        duedate: i.duedate ?? null,
        at,
      });
      this.setStatus(issue, status);
      for (const [k, v] of Object.entries(i.properties ?? {})) issue.properties.set(k, v);
    }
    for (const w of s.webhooks ?? []) {
      const id = this.nextWebhookId++;
      this.webhooks.set(id, {
        id,
        name: w.name,
        url: w.url,
        events: w.events,
        jqlFilter: w.jql ?? '',
        excludeBody: false,
        secret: w.secret ?? null,
        enabled: true,
        lastUpdatedUser: seeder?.id ?? '',
        lastUpdatedMs: this.tick(),
      });
    }
    // Seeded issues existed before the test: already indexed.
    this.indexed = this.cloneIssues();
    this.pendingIndex = [];
  }

  state(): unknown {
    return {
      sandbox: 'Jira emulator (test infrastructure; not the real Jira)',
      users:
        this.kit?.actors.all().map((u) => ({
          accountId: u.id,
          displayName: u.name,
          email: u.email,
          hideEmail: this.emailHidden.has(u.id),
          bot: u.isBot,
        })) ?? [],
      projects: [...this.projects.values()],
      issues: [...this.issues.values()].map((i) => ({
        ...this.renderIssue(i, { fields: null, expandChangelog: true }),
        properties: Object.fromEntries(i.properties),
      })),
      webhooks: [...this.webhooks.values()].map((w) => this.renderWebhook(w)),
    };
  }

  handle(req: EmulatorRequest, kit: EmulatorKit): EmulatorResponse | Promise<EmulatorResponse> {
    const response = this.handleNow(req, kit);
    const write = req.method !== 'GET' && !req.path.endsWith('/search/jql');
    if (!write || response.status >= 400) return response;
    this.reindexLater();
    const f = this.afterApply.find(
      (a) =>
        a.remaining > 0 &&
        (!a.method || a.method.toUpperCase() === req.method) &&
        (!a.pathPrefix || req.path.startsWith(a.pathPrefix)) &&
        (!a.actor || a.actor === req.actor.id),
    );
    if (!f) return response;
    f.remaining--;
    // The write is done; only its answer is late, or lost behind a gateway error.
    const answer = f.status ? this.serverError(f.status) : response;
    if (f.hold) return new Promise((resolve) => this.held.push(() => resolve(answer)));
    return new Promise((resolve) => setTimeout(() => resolve(answer), f.delayMs ?? 0));
  }

  /** Platform control routes: `/_emulator/jira/search` and `/_emulator/jira/after-apply`. */
  async control(method: string, what: string, body: unknown): Promise<EmulatorResponse | null> {
    const b = (body ?? {}) as Record<string, unknown>;
    if (method === 'POST' && what === 'search') {
      if (typeof b['lagMs'] === 'number' && b['lagMs'] >= 0) this.searchLagMs = b['lagMs'];
      if (Array.isArray(b['indexedProperties']))
        this.indexedProperties = new Set(b['indexedProperties'].map(String));
      return json(200, { lagMs: this.searchLagMs, indexedProperties: [...this.indexedProperties] });
    }
    if (method === 'POST' && what === 'after-apply') {
      const f = b as AfterApplyFault;
      this.afterApply.push({ ...f, remaining: f.count ?? 1 });
      return json(200, { ok: true });
    }
    if (method === 'POST' && what === 'after-apply/release') {
      const n = this.held.length;
      for (const send of this.held.splice(0)) send();
      return json(200, { released: n });
    }
    if (method === 'GET' && what === 'after-apply/held') return json(200, { held: this.held.length });
    if (method === 'POST' && what === 'users/email-visibility') {
      const accountId = typeof b['accountId'] === 'string' ? b['accountId'] : '';
      if (!this.kit?.actors.get(accountId)) return json(404, { error: 'no_such_user', accountId });
      this.setEmailHidden(accountId, b['hidden'] !== false);
      return json(200, { accountId, hidden: this.emailHidden.has(accountId) });
    }
    if (method === 'DELETE' && what === 'after-apply') {
      this.afterApply = [];
      return json(200, { ok: true });
    }
    return null;
  }

  /**
   * Sets whether `accountId`'s profile visibility hides their email (JiraUserSeed.hideEmail), for a
   * user added with `kit.actors.add` or seeded. Control API: `POST /_emulator/jira/users/email-visibility
   * {accountId, hidden}`.
   */
  setEmailHidden(accountId: string, hidden = true): void {
    if (hidden) this.emailHidden.add(accountId);
    else this.emailHidden.delete(accountId);
  }

  /** The email Jira shows for `u`: none when they have none or their profile hides it. */
  private visibleEmail(u: EmulatedUser): string | null {
    return u.email && !this.emailHidden.has(u.id) ? u.email : null;
  }

  /** Arms a write that is applied and then answered late or with `status` (see control()). */
  addAfterApplyFault(f: AfterApplyFault): void {
    this.afterApply.push({ ...f, remaining: f.count ?? 1 });
  }

  private cloneIssues(): Map<string, StoredIssue> {
    return structuredClone(this.issues);
  }

  /** The state after a write becomes searchable once it is `searchLagMs` old. */
  private reindexLater(): void {
    if (this.searchLagMs <= 0) return;
    this.pendingIndex.push({ visibleAtMs: Date.now() + this.searchLagMs, issues: this.cloneIssues() });
  }

  /**
   * How long until search sees the last write (0: search is current). Tests that read through
   * search after writes wait for 0 (test/e2e/harness.ts `pendingWork`), as a condition, not a sleep.
   */
  searchIndexBehindMs(): number {
    const last = this.pendingIndex.at(-1);
    return last ? Math.max(0, last.visibleAtMs - Date.now()) : 0;
  }

  /** The issues search sees now. */
  private searchable(reconcile: readonly string[]): Map<string, StoredIssue> {
    if (this.searchLagMs <= 0) return this.issues;
    const now = Date.now();
    while (this.pendingIndex.length > 0 && this.pendingIndex[0]!.visibleAtMs <= now)
      this.indexed = this.pendingIndex.shift()!.issues;
    if (reconcile.length === 0) return this.indexed;
    const view = new Map(this.indexed);
    for (const id of reconcile) {
      const live = this.issues.get(id);
      if (live) view.set(id, live);
      else view.delete(id);
    }
    return view;
  }

  private handleNow(req: EmulatorRequest, kit: EmulatorKit): EmulatorResponse {
    this.kit = kit;
    if (typeof req.headers.host === 'string') this.baseUrl = `http://${req.headers.host}`;
    let body: unknown;
    if (req.rawBody.length > 0) {
      try {
        body = JSON.parse(req.rawBody.toString('utf8'));
      } catch (err) {
        return jiraError(400, [`Unexpected character in the request body: ${(err as Error).message}`]);
      }
    }
    if (req.path === ADMIN_WEBHOOKS || req.path.startsWith(`${ADMIN_WEBHOOKS}/`))
      return this.adminWebhooks(req, body);

    const op = this.spec.match(req.method, req.path);
    if (!op)
      return jiraError(404, [
        `The Jira emulator has no route for ${req.method} ${req.path} (not in the v3 swagger).`,
      ]);
    const problems = this.spec.validate(
      op,
      req.query,
      body,
      String(req.headers['content-type'] ?? 'application/json'),
    );
    if (problems.length > 0) {
      const errors: Errors = {};
      const messages: string[] = [];
      for (const p of problems) {
        if (p.where.startsWith('query/')) errors[p.where.slice(6)] = `The value ${p.message}.`;
        else messages.push(`Invalid request payload: ${p.where} ${p.message}.`);
      }
      return jiraError(400, messages, errors);
    }
    return this.dispatch(op, req, body);
  }

  private dispatch(op: SpecOperation, req: EmulatorRequest, body: unknown): EmulatorResponse {
    const p = op.pathParams;
    const b = (body ?? {}) as Body;
    switch (op.operationId) {
      case 'createIssue':
        return this.createIssue(req.actor, b);
      case 'getIssue':
        return this.getIssue(p['issueIdOrKey'] ?? '', req.query);
      case 'editIssue':
        return this.editIssue(req.actor, p['issueIdOrKey'] ?? '', b, req.query);
      case 'deleteIssue':
        return this.deleteIssue(req.actor, p['issueIdOrKey'] ?? '');
      case 'getTransitions':
        return this.getTransitions(p['issueIdOrKey'] ?? '');
      case 'doTransition':
        return this.doTransition(req.actor, p['issueIdOrKey'] ?? '', b);
      case 'getComments':
        return this.getComments(p['issueIdOrKey'] ?? '', req.query);
      case 'addComment':
        return this.addComment(req.actor, p['issueIdOrKey'] ?? '', b);
      case 'getCommentsByIds':
        return this.getCommentsByIds(b, req.query);
      case 'getComment':
        return this.withComment(p['issueIdOrKey'] ?? '', p['id'] ?? '', (i, c) =>
          json(200, this.renderComment(i, c)),
        );
      case 'updateComment':
        return this.updateComment(req.actor, p['issueIdOrKey'] ?? '', p['id'] ?? '', b);
      case 'deleteComment':
        return this.deleteComment(req.actor, p['issueIdOrKey'] ?? '', p['id'] ?? '');
      case 'searchAndReconsileIssuesUsingJql':
        return this.search({
          jql: req.query.get('jql') ?? '',
          nextPageToken: req.query.get('nextPageToken'),
          maxResults: req.query.has('maxResults') ? Number(req.query.get('maxResults')) : 50,
          fields: req.query.getAll('fields').flatMap((f) => f.split(',')),
          expand: req.query.get('expand') ?? '',
          properties: req.query.getAll('properties').flatMap((f) => f.split(',')),
          reconcileIssues: req.query.getAll('reconcileIssues').flatMap((f) => f.split(',')),
        });
      case 'searchAndReconsileIssuesUsingJqlPost':
        return this.search({
          jql: typeof b['jql'] === 'string' ? b['jql'] : '',
          nextPageToken: typeof b['nextPageToken'] === 'string' ? b['nextPageToken'] : null,
          maxResults: typeof b['maxResults'] === 'number' ? b['maxResults'] : 50,
          fields: Array.isArray(b['fields']) ? (b['fields'] as string[]) : [],
          expand: typeof b['expand'] === 'string' ? b['expand'] : '',
          properties: Array.isArray(b['properties']) ? (b['properties'] as string[]) : [],
          reconcileIssues: Array.isArray(b['reconcileIssues'])
            ? (b['reconcileIssues'] as unknown[]).map(String)
            : [],
        });
      case 'getIssueProperty':
        return this.withIssue(p['issueIdOrKey'] ?? '', (i) => {
          const key = p['propertyKey'] ?? '';
          if (!i.properties.has(key))
            return jiraError(404, [`The property with key '${key}' does not exist.`]);
          return json(200, { key, value: i.properties.get(key) });
        });
      case 'setIssueProperty':
        return this.setProperty(
          req.actor,
          p['issueIdOrKey'] ?? '',
          p['propertyKey'] ?? '',
          body,
          req.rawBody.length,
        );
      case 'deleteIssueProperty':
        return this.deleteProperty(req.actor, p['issueIdOrKey'] ?? '', p['propertyKey'] ?? '');
      case 'getIssuePropertyKeys':
        return this.withIssue(p['issueIdOrKey'] ?? '', (i) =>
          json(200, {
            keys: [...i.properties.keys()].map((key) => ({
              key,
              self: `${this.baseUrl}${API}/issue/${i.id}/properties/${encodeURIComponent(key)}`,
            })),
          }),
        );
      case 'getCurrentUser':
        return json(200, {
          ...this.renderUser(req.actor),
          locale: 'en_US',
          groups: { size: 1, items: [] },
          applicationRoles: { size: 1, items: [] },
          expand: 'groups,applicationRoles',
        });
      case 'findUsers':
        return this.findUsers(req.query);
      case 'getUser': {
        const u = this.kit?.actors.get(req.query.get('accountId') ?? '');
        return u
          ? json(200, this.renderUser(u))
          : jiraError(404, [`Specified user does not exist or you do not have required permissions`]);
      }
      case 'getProject': {
        const key = p['projectIdOrKey'] ?? '';
        const proj =
          this.projects.get(key.toUpperCase()) ?? [...this.projects.values()].find((x) => x.id === key);
        return proj
          ? json(200, this.renderProject(proj, true))
          : jiraError(404, [`No project could be found with key '${key}'.`]);
      }
      case 'searchProjects': {
        // GET /project/search (PageBeanProject); `lockstep init` lists the projects it can pair.
        const q = (req.query.get('query') ?? '').toLowerCase();
        const all = [...this.projects.values()].filter(
          (x) => q === '' || x.key.toLowerCase().includes(q) || x.name.toLowerCase().includes(q),
        );
        const startAt = Number(req.query.get('startAt') ?? 0);
        const maxResults = Math.min(Number(req.query.get('maxResults') ?? 50), 100);
        const values = all.slice(startAt, startAt + maxResults).map((x) => this.renderProject(x, false));
        return json(200, {
          self: `${this.baseUrl}${API}/project/search`,
          maxResults,
          startAt,
          total: all.length,
          isLast: startAt + values.length >= all.length,
          values,
        });
      }
      case 'getPriorities':
        return json(
          200,
          PRIORITIES.map((x) => this.renderPriority(x.id)),
        );
      case 'getStatuses':
        return json(
          200,
          STATUSES.map((s) => this.renderStatus(s)),
        );
      case 'getAllStatuses':
        return json(
          200,
          ISSUE_TYPES.map((t) => ({
            self: `${this.baseUrl}${API}/issuetype/${t.id}`,
            id: t.id,
            name: t.name,
            subtask: false,
            statuses: STATUSES.map((s) => this.renderStatus(s)),
          })),
        );
      default:
        return jiraError(404, [`The Jira emulator does not implement ${op.operationId ?? op.template}.`]);
    }
  }

  // ---- issues ---------------------------------------------------------------------------------

  private createIssue(actor: EmulatedUser, b: Body): EmulatorResponse {
    const fields = (b['fields'] ?? {}) as Body;
    const update = (b['update'] ?? {}) as Body;
    const errors: Errors = {};
    for (const f of Object.keys(fields))
      if (!CREATE_FIELDS.has(f))
        errors[f] = `Field '${f}' cannot be set. It is not on the appropriate screen, or unknown.`;
    const projectRef = fields['project'] as Body | undefined;
    const project =
      projectRef && typeof projectRef === 'object'
        ? (this.projects.get(String(projectRef['key'] ?? '').toUpperCase()) ??
          [...this.projects.values()].find((x) => x.id === String(projectRef['id'] ?? '')))
        : undefined;
    if (!project) errors['project'] = 'Specify a valid project ID or key';
    const typeRef = fields['issuetype'] as Body | undefined;
    const issueType =
      typeRef && typeof typeRef === 'object'
        ? ISSUE_TYPES.find((t) => t.id === typeRef['id'] || t.name === typeRef['name'])
        : undefined;
    if (!typeRef) errors['issuetype'] = 'Specify an issue type';
    else if (!issueType) errors['issuetype'] = 'Specify a valid issue type';
    if (fields['summary'] === undefined && !update['summary'])
      errors['summary'] = 'You must specify a summary of the issue.';
    const draft = {
      summary: '',
      description: null as unknown,
      priorityId: '3',
      assigneeId: null as string | null,
      reporterId: actor.id,
      labels: [] as string[],
      duedate: null as string | null,
    };
    this.applyFields(fields, update, draft, errors, CREATE_FIELDS);
    if (Object.keys(errors).length > 0 || !project || !issueType) return jiraError(400, [], errors);
    const at = this.tick();
    const issue = this.newIssue({
      ...draft,
      projectKey: project.key,
      issueTypeId: issueType.id,
      creatorId: actor.id,
      at,
    });
    for (const prop of (b['properties'] as { key?: string; value?: unknown }[] | undefined) ?? [])
      if (prop.key) issue.properties.set(prop.key, prop.value);
    this.emit('jira:issue_created', 'issue_created', issue, actor, at, {});
    return json(201, { id: issue.id, key: issue.key, self: `${this.baseUrl}${API}/issue/${issue.id}` });
  }

  private getIssue(idOrKey: string, query: URLSearchParams): EmulatorResponse {
    return this.withIssue(idOrKey, (i) => {
      const fields = query.getAll('fields').flatMap((f) => f.split(','));
      const rendered = this.renderIssue(i, {
        fields: fields.length ? fields : null,
        expandChangelog: (query.get('expand') ?? '').split(',').includes('changelog'),
      });
      const props = query.getAll('properties').flatMap((f) => f.split(','));
      if (props.length) rendered['properties'] = this.pickProperties(i, props);
      return json(200, rendered);
    });
  }

  private editIssue(actor: EmulatedUser, idOrKey: string, b: Body, query: URLSearchParams): EmulatorResponse {
    return this.withIssue(idOrKey, (issue) => {
      const fields = (b['fields'] ?? {}) as Body;
      const update = (b['update'] ?? {}) as Body;
      const errors: Errors = {};
      for (const f of [...Object.keys(fields), ...Object.keys(update)]) {
        if (f === 'comment' && f in update) continue;
        // Status, project and issue type are not editable; status moves only through transitions.
        if (!EDIT_FIELDS.has(f))
          errors[f] = `Field '${f}' cannot be set. It is not on the appropriate screen, or unknown.`;
      }
      for (const f of Object.keys(fields))
        if (f in update) errors[f] = `Field '${f}' cannot be set in both 'fields' and 'update'.`;
      const draft = {
        summary: issue.summary,
        description: issue.description,
        priorityId: issue.priorityId,
        assigneeId: issue.assigneeId,
        reporterId: issue.reporterId,
        labels: [...issue.labels],
        duedate: issue.duedate,
      };
      this.applyFields(fields, update, draft, errors, EDIT_FIELDS);
      const comments = this.commentAdds(update, errors);
      if (Object.keys(errors).length > 0) return jiraError(400, [], errors);
      const items = this.diff(issue, draft);
      if (items.length > 0) {
        const at = this.tick();
        Object.assign(issue, draft);
        this.record(issue, actor, at, items);
        const assigneeOnly = items.length === 1 && items[0]?.field === 'assignee';
        this.emit('jira:issue_updated', assigneeOnly ? 'issue_assigned' : 'issue_updated', issue, actor, at, {
          items,
        });
      }
      for (const body of comments) this.commentOn(issue, actor, body);
      if (query.get('returnIssue') === 'true')
        return json(200, this.renderIssue(issue, { fields: null, expandChangelog: false }));
      return { status: 204 };
    });
  }

  private deleteIssue(actor: EmulatedUser, idOrKey: string): EmulatorResponse {
    return this.withIssue(idOrKey, (issue) => {
      const at = this.tick();
      this.emit('jira:issue_deleted', 'issue_deleted', issue, actor, at, {});
      this.issues.delete(issue.id);
      this.keyIndex.delete(issue.key);
      return { status: 204 };
    });
  }

  private getTransitions(idOrKey: string): EmulatorResponse {
    return this.withIssue(idOrKey, (issue) =>
      json(200, {
        expand: 'transitions',
        transitions: STATUSES.filter((s) => s.id !== issue.statusId).map((s) => ({
          id: s.transitionId,
          name: s.name,
          to: this.renderStatus(s),
          hasScreen: false,
          isGlobal: true,
          isInitial: false,
          isAvailable: true,
          isConditional: false,
          isLooped: false,
        })),
      }),
    );
  }

  private doTransition(actor: EmulatedUser, idOrKey: string, b: Body): EmulatorResponse {
    return this.withIssue(idOrKey, (issue) => {
      const t = b['transition'] as Body | undefined;
      if (!t || (t['id'] === undefined && t['name'] === undefined))
        return jiraError(400, ["Missing 'transition' identifier"]);
      const target = STATUSES.find(
        (s) => s.transitionId === String(t['id'] ?? '') || (t['id'] === undefined && s.name === t['name']),
      );
      if (!target || target.id === issue.statusId)
        return jiraError(400, [
          `Transition id '${String(t['id'] ?? t['name'])}' is not valid for this issue.`,
        ]);
      const fields = (b['fields'] ?? {}) as Body;
      const update = (b['update'] ?? {}) as Body;
      const errors: Errors = {};
      for (const f of Object.keys(fields))
        if (!EDIT_FIELDS.has(f))
          errors[f] = `Field '${f}' cannot be set. It is not on the appropriate screen, or unknown.`;
      const draft = {
        summary: issue.summary,
        description: issue.description,
        priorityId: issue.priorityId,
        assigneeId: issue.assigneeId,
        reporterId: issue.reporterId,
        labels: [...issue.labels],
        duedate: issue.duedate,
      };
      this.applyFields(fields, update, draft, errors, EDIT_FIELDS);
      const comments = this.commentAdds(update, errors);
      if (Object.keys(errors).length > 0) return jiraError(400, [], errors);
      const items = [...this.diff(issue, draft), ...this.statusItems(issue, target)];
      const at = this.tick();
      Object.assign(issue, draft);
      this.setStatus(issue, target, at);
      this.record(issue, actor, at, items);
      this.emit('jira:issue_updated', 'issue_generic', issue, actor, at, { items });
      for (const body of comments) this.commentOn(issue, actor, body);
      return { status: 204 };
    });
  }

  // ---- comments -------------------------------------------------------------------------------

  private getComments(idOrKey: string, query: URLSearchParams): EmulatorResponse {
    return this.withIssue(idOrKey, (issue) => {
      const orderBy = query.get('orderBy');
      if (orderBy !== null && !['created', '-created', '+created'].includes(orderBy))
        return jiraError(400, [], { orderBy: `The value '${orderBy}' is not valid for orderBy.` });
      const startAt = Number(query.get('startAt') ?? 0);
      const maxResults = Math.min(Number(query.get('maxResults') ?? 100), 5000);
      const all = [...issue.comments].sort(
        (a, b) =>
          (orderBy === '-created' ? b.createdMs - a.createdMs : a.createdMs - b.createdMs) ||
          Number(a.id) - Number(b.id),
      );
      return json(200, {
        startAt,
        maxResults,
        total: all.length,
        comments: all.slice(startAt, startAt + maxResults).map((c) => this.renderComment(issue, c)),
      });
    });
  }

  private addComment(actor: EmulatedUser, idOrKey: string, b: Body): EmulatorResponse {
    return this.withIssue(idOrKey, (issue) => {
      const problem = commentBodyProblem(b['body']);
      if (problem) return jiraError(400, [], { comment: problem });
      const props = commentProperties(b['properties']);
      if (typeof props === 'string') return jiraError(400, [props]);
      const c = this.commentOn(issue, actor, b['body'], props);
      return json(201, this.renderComment(issue, c));
    });
  }

  /**
   * POST /rest/api/3/comment/list: the comments with these ids, wherever they are; ids that name
   * no comment are left out (Jira returns what the caller may see). At most 1000 ids.
   * `expand=properties` adds each comment's entity properties.
   */
  private getCommentsByIds(b: Body, query: URLSearchParams): EmulatorResponse {
    const ids = b['ids'] as number[];
    if (ids.length > 1000) return jiraError(400, ['A maximum of 1000 IDs can be specified.']);
    const expand = (query.get('expand') ?? '').split(',').map((x) => x.trim());
    const wanted = new Set(ids.map(String));
    const values: Record<string, unknown>[] = [];
    for (const issue of this.issues.values())
      for (const c of issue.comments)
        if (wanted.has(c.id)) {
          const r = this.renderComment(issue, c);
          if (expand.includes('properties'))
            r['properties'] = Object.entries(c.properties ?? {}).map(([key, value]) => ({ key, value }));
          values.push(r);
        }
    values.sort((x, y) => Number(x['id']) - Number(y['id']));
    return json(200, { maxResults: 1000, startAt: 0, total: values.length, isLast: true, values });
  }

  private updateComment(actor: EmulatedUser, idOrKey: string, id: string, b: Body): EmulatorResponse {
    return this.withComment(idOrKey, id, (issue, c) => {
      const problem = commentBodyProblem(b['body']);
      if (problem) return jiraError(400, [], { comment: problem });
      if (JSON.stringify(c.body) !== JSON.stringify(b['body'])) {
        const at = this.tick();
        c.body = b['body'];
        c.updateAuthorId = actor.id;
        c.updatedMs = at;
        issue.updatedMs = at;
        this.emit('comment_updated', 'issue_comment_edited', issue, actor, at, { comment: c });
        this.emit('jira:issue_updated', 'issue_comment_edited', issue, actor, at, { comment: c });
      }
      return json(200, this.renderComment(issue, c));
    });
  }

  private deleteComment(actor: EmulatedUser, idOrKey: string, id: string): EmulatorResponse {
    return this.withComment(idOrKey, id, (issue, c) => {
      const at = this.tick();
      issue.comments = issue.comments.filter((x) => x !== c);
      issue.updatedMs = at;
      this.emit('comment_deleted', 'issue_comment_deleted', issue, actor, at, { comment: c });
      this.emit('jira:issue_updated', 'issue_comment_deleted', issue, actor, at, { comment: c });
      return { status: 204 };
    });
  }

  /** Adds a comment; like Jira, a comment bumps the issue's `updated`. */
  private commentOn(
    issue: StoredIssue,
    actor: EmulatedUser,
    body: unknown,
    properties?: Record<string, unknown>,
  ): StoredComment {
    const at = this.tick();
    const c: StoredComment = {
      id: String(this.nextCommentId++),
      authorId: actor.id,
      updateAuthorId: actor.id,
      body,
      createdMs: at,
      updatedMs: at,
      ...(properties && Object.keys(properties).length > 0 && { properties }),
    };
    issue.comments.push(c);
    issue.updatedMs = at;
    this.emit('comment_created', 'issue_commented', issue, actor, at, { comment: c });
    this.emit('jira:issue_updated', 'issue_commented', issue, actor, at, { comment: c });
    return c;
  }

  private commentAdds(update: Body, errors: Errors): unknown[] {
    const ops = update['comment'];
    if (ops === undefined) return [];
    const out: unknown[] = [];
    for (const op of ops as Body[]) {
      const add = op['add'] as Body | undefined;
      const problem = add ? commentBodyProblem(add['body']) : "Only 'add' is supported for comment.";
      if (problem) errors['comment'] = problem;
      else out.push(add?.['body']);
    }
    return out;
  }

  // ---- properties -----------------------------------------------------------------------------

  private setProperty(
    actor: EmulatedUser,
    idOrKey: string,
    key: string,
    value: unknown,
    bytes: number,
  ): EmulatorResponse {
    return this.withIssue(idOrKey, (issue) => {
      if (key.length > 255) return jiraError(400, ['The property key cannot be longer than 255 characters.']);
      if (bytes > 32768) return jiraError(400, ['The property value cannot be longer than 32768 bytes.']);
      const existed = issue.properties.has(key);
      issue.properties.set(key, value);
      // Setting a property does not change the issue's `updated` timestamp in Jira.
      this.emit('issue_property_set', 'issue_property_set', issue, actor, this.tick(), {
        property: { key, value },
      });
      return { status: existed ? 200 : 201 };
    });
  }

  private deleteProperty(actor: EmulatedUser, idOrKey: string, key: string): EmulatorResponse {
    return this.withIssue(idOrKey, (issue) => {
      if (!issue.properties.has(key))
        return jiraError(404, [`The property with key '${key}' does not exist.`]);
      issue.properties.delete(key);
      this.emit('issue_property_deleted', 'issue_property_deleted', issue, actor, this.tick(), {
        property: { key },
      });
      return { status: 204 };
    });
  }

  // ---- search ---------------------------------------------------------------------------------

  private search(s: {
    jql: string;
    nextPageToken: string | null;
    maxResults: number;
    fields: string[];
    expand: string;
    properties: string[];
    reconcileIssues: string[];
  }): EmulatorResponse {
    if (s.reconcileIssues.length > 50)
      return jiraError(400, ['reconcileIssues accepts at most 50 issue ids.']);
    let q: Query;
    try {
      q = parseJql(s.jql);
    } catch (err) {
      if (err instanceof JqlNotEmulated) return notEmulated(err.message);
      if (err instanceof JqlError) return jiraError(400, [err.message]);
      throw err;
    }
    if (!isBounded(q))
      return jiraError(400, [
        'Unbounded JQL queries are not allowed here. Please add a search restriction to your query.',
      ]);
    let offset = 0;
    if (s.nextPageToken !== null) {
      const decoded = decodeToken(s.nextPageToken);
      if (decoded === null || decoded.jql !== s.jql)
        return jiraError(400, ['The provided next page token is invalid or expired.']);
      offset = decoded.offset;
    }
    const fieldList = s.fields.map((f) => f.trim()).filter(Boolean);
    const idOnly = fieldList.length === 0 || fieldList.every((f) => f === 'id' || f === 'key');
    const cap = idOnly ? 5000 : 100;
    const pageSize = Math.max(1, Math.min(s.maxResults, cap));
    const now = Date.now();
    const hits = sortIssues(
      [...this.searchable(s.reconcileIssues).values()]
        .map((i) => ({ i, ...this.jqlView(i, this.indexedProperties) }))
        .filter((x) => matches(q, x, now)),
      q,
    );
    const page = hits.slice(offset, offset + pageSize);
    const isLast = offset + pageSize >= hits.length;
    const expandChangelog = s.expand.split(',').includes('changelog');
    const issues = page.map(({ i }) => {
      if (fieldList.length === 0 || (fieldList.length === 1 && fieldList[0] === 'id')) return { id: i.id };
      const r = this.renderIssue(i, { fields: fieldList, expandChangelog });
      if (s.properties.length) r['properties'] = this.pickProperties(i, s.properties);
      return r;
    });
    const body: Record<string, unknown> = { issues, isLast };
    if (!isLast) body['nextPageToken'] = encodeToken({ jql: s.jql, offset: offset + pageSize });
    return json(200, body);
  }

  /** `searchable`: the properties JQL may see (search: the indexed ones; webhook filters: all). */
  private jqlView(i: StoredIssue, searchable?: ReadonlySet<string>): JqlIssue {
    const st = statusById(i.statusId);
    return {
      id: i.id,
      key: i.key,
      projectKey: i.projectKey,
      statusName: st.name,
      statusCategoryName: CATEGORIES[st.category].name,
      createdMs: i.createdMs,
      updatedMs: i.updatedMs,
      properties: searchable ? new Map([...i.properties].filter(([k]) => searchable.has(k))) : i.properties,
    };
  }

  // ---- users ----------------------------------------------------------------------------------

  private findUsers(query: URLSearchParams): EmulatorResponse {
    const q = (query.get('query') ?? '').toLowerCase();
    const accountId = query.get('accountId');
    if (!q && !accountId)
      return jiraError(400, ["One of 'query' or 'accountId' parameters must be provided."]);
    const startAt = Number(query.get('startAt') ?? 0);
    const maxResults = Number(query.get('maxResults') ?? 50);
    const users = (this.kit?.actors.all() ?? []).filter((u) =>
      accountId
        ? u.id === accountId
        : // An email the profile hides is not matched either: a search by it finds nobody.
          (this.visibleEmail(u)?.toLowerCase().startsWith(q) ?? false) ||
          u.name
            .toLowerCase()
            .split(/\s+/)
            .some((w) => w.startsWith(q)) ||
          u.name.toLowerCase().startsWith(q),
    );
    return json(
      200,
      users.slice(startAt, startAt + maxResults).map((u) => this.renderUser(u)),
    );
  }

  // ---- admin webhooks (Jira's /rest/webhooks/1.0 API; not part of the v3 swagger) -------------

  private adminWebhooks(req: EmulatorRequest, body: unknown): EmulatorResponse {
    const rest = req.path.slice(ADMIN_WEBHOOKS.length).replace(/^\//, '');
    if (rest === '') {
      if (req.method === 'GET')
        return json(
          200,
          [...this.webhooks.values()].map((w) => this.renderWebhook(w)),
        );
      if (req.method === 'POST') return this.registerWebhook(req.actor, (body ?? {}) as Body);
      return { status: 405 };
    }
    const w = this.webhooks.get(Number(rest));
    if (!w || !/^\d+$/.test(rest)) return jiraError(404, [`Webhook with id ${rest} does not exist.`]);
    if (req.method === 'GET') return json(200, this.renderWebhook(w));
    if (req.method === 'DELETE') {
      this.webhooks.delete(w.id);
      return { status: 204 };
    }
    return { status: 405 };
  }

  private registerWebhook(actor: EmulatedUser, b: Body): EmulatorResponse {
    const errors: Errors = {};
    if (typeof b['name'] !== 'string' || b['name'] === '') errors['name'] = 'Name is required.';
    let urlOk = false;
    if (typeof b['url'] === 'string') {
      try {
        urlOk = ['http:', 'https:'].includes(new URL(b['url']).protocol);
      } catch {
        urlOk = false;
      }
    }
    if (!urlOk) errors['url'] = 'A valid URL is required.';
    const events = b['events'];
    if (!Array.isArray(events) || events.length === 0 || events.some((e) => typeof e !== 'string'))
      errors['events'] = 'At least one event is required.';
    else {
      const unknown = events.filter((e) => !(WEBHOOK_EVENTS as readonly string[]).includes(e as string));
      if (unknown.length) errors['events'] = `Unknown or unsupported events: ${unknown.join(', ')}`;
    }
    const filters = (b['filters'] ?? {}) as Body;
    const jql =
      typeof filters['issue-related-events-section'] === 'string'
        ? filters['issue-related-events-section']
        : '';
    if (jql) {
      try {
        parseJql(jql);
      } catch (err) {
        if (err instanceof JqlNotEmulated) return notEmulated(err.message);
        if (!(err instanceof JqlError)) throw err;
        errors['filters'] = err.message;
      }
    }
    if (b['secret'] !== undefined && typeof b['secret'] !== 'string')
      errors['secret'] = 'The secret must be a string.';
    if (Object.keys(errors).length) return jiraError(400, [], errors);
    const id = this.nextWebhookId++;
    const w: AdminWebhook = {
      id,
      name: b['name'] as string,
      url: b['url'] as string,
      events: events as string[],
      jqlFilter: jql,
      excludeBody: b['excludeBody'] === true,
      secret: typeof b['secret'] === 'string' ? b['secret'] : null,
      enabled: b['enabled'] !== false,
      lastUpdatedUser: actor.id,
      lastUpdatedMs: this.tick(),
    };
    this.webhooks.set(id, w);
    return json(201, this.renderWebhook(w));
  }

  private renderWebhook(w: AdminWebhook): Record<string, unknown> {
    const actor = this.kit?.actors.get(w.lastUpdatedUser);
    return {
      name: w.name,
      url: w.url,
      excludeBody: w.excludeBody,
      filters: { 'issue-related-events-section': w.jqlFilter },
      events: w.events,
      enabled: w.enabled,
      self: `${this.baseUrl}${ADMIN_WEBHOOKS}/${w.id}`,
      lastUpdatedUser: w.lastUpdatedUser,
      lastUpdatedDisplayName: actor?.name ?? '',
      lastUpdated: w.lastUpdatedMs,
    };
  }

  /**
   * Sends `event` to every enabled admin webhook subscribed to it whose JQL filter matches the
   * issue. The body is signed per webhook: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
   */
  private emit(
    event: WebhookEvent,
    typeName: string,
    issue: StoredIssue,
    actor: EmulatedUser,
    at: number,
    extra: { items?: ChangeItem[]; comment?: StoredComment; property?: { key: string; value?: unknown } },
  ): void {
    const kit = this.kit;
    if (!kit) return;
    const now = Date.now();
    for (const w of this.webhooks.values()) {
      if (!w.enabled || !w.events.includes(event)) continue;
      if (w.jqlFilter && !matches(parseJql(w.jqlFilter), this.jqlView(issue), now)) continue;
      const payload: Record<string, unknown> = {
        timestamp: at,
        webhookEvent: event,
        issue_event_type_name: typeName,
        user: this.renderUser(actor),
      };
      if (event.startsWith('comment_')) {
        // Comment events carry the issue in brief (Jira's own comment payloads do the same).
        delete payload['issue_event_type_name'];
        payload['issue'] = this.renderIssue(issue, {
          fields: ['summary', 'issuetype', 'project', 'assignee', 'priority', 'status'],
          expandChangelog: false,
        });
      } else payload['issue'] = this.renderIssue(issue, { fields: null, expandChangelog: false });
      if (extra.comment) payload['comment'] = this.renderComment(issue, extra.comment);
      if (extra.property) {
        delete payload['issue_event_type_name'];
        payload['property'] = extra.property;
      }
      if (event === 'jira:issue_updated' && extra.items?.length)
        payload['changelog'] = { id: issue.histories.at(-1)?.id ?? '', items: extra.items };
      const raw = JSON.stringify(payload);
      const deliveryId = String(this.nextDeliveryId++);
      const secret = w.secret;
      kit.webhooks.deliver(deliveryId, w.url, (attempt) => {
        const headers: Record<string, string> = {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Atlassian Webhook HTTP Client (Lockstep Jira emulator)',
          'x-atlassian-webhook-identifier': deliveryId,
          'x-atlassian-webhook-flow': 'Primary',
        };
        if (attempt > 0) headers['x-atlassian-webhook-retry'] = String(attempt);
        if (secret)
          headers['x-hub-signature'] = `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
        return { headers, body: raw };
      });
    }
  }

  // ---- rendering ------------------------------------------------------------------------------

  renderUser(u: EmulatedUser): Record<string, unknown> {
    const r: Record<string, unknown> = {
      self: `${this.baseUrl}${API}/user?accountId=${encodeURIComponent(u.id)}`,
      accountId: u.id,
      accountType: 'atlassian',
      displayName: u.name,
      active: true,
      timeZone: 'UTC',
      avatarUrls: { '48x48': `${this.baseUrl}/avatar/${encodeURIComponent(u.id)}.png` },
    };
    // Jira leaves the field out when the user has no email or their profile visibility hides it.
    const email = this.visibleEmail(u);
    if (email) r['emailAddress'] = email;
    return r;
  }

  private userRef(id: string | null): Record<string, unknown> | null {
    if (id === null) return null;
    const u = this.kit?.actors.get(id);
    return u
      ? this.renderUser(u)
      : { accountId: id, accountType: 'atlassian', displayName: 'Former user', active: false };
  }

  private renderStatus(s: Status): Record<string, unknown> {
    const c = CATEGORIES[s.category];
    return {
      self: `${this.baseUrl}${API}/status/${s.id}`,
      description: s.description,
      iconUrl: `${this.baseUrl}/images/icons/status_generic.gif`,
      name: s.name,
      id: s.id,
      statusCategory: {
        self: `${this.baseUrl}${API}/statuscategory/${c.id}`,
        id: c.id,
        key: c.key,
        colorName: c.colorName,
        name: c.name,
      },
    };
  }

  private renderPriority(id: string): Record<string, unknown> {
    const p = priorityById(id);
    return {
      self: `${this.baseUrl}${API}/priority/${p.id}`,
      statusColor: p.statusColor,
      description: p.name,
      iconUrl: `${this.baseUrl}/images/icons/priorities/${p.name.toLowerCase()}.svg`,
      name: p.name,
      id: p.id,
      isDefault: p.isDefault,
    };
  }

  private renderProject(p: Project, full: boolean): Record<string, unknown> {
    const r: Record<string, unknown> = {
      self: `${this.baseUrl}${API}/project/${p.id}`,
      id: p.id,
      key: p.key,
      name: p.name,
      projectTypeKey: 'software',
      simplified: true,
    };
    if (full) {
      r['lead'] = this.userRef(p.leadAccountId);
      r['issueTypes'] = ISSUE_TYPES.map((t) => ({
        self: `${this.baseUrl}${API}/issuetype/${t.id}`,
        id: t.id,
        name: t.name,
        description: t.description,
        subtask: false,
        hierarchyLevel: 0,
      }));
      r['style'] = 'next-gen';
      r['isPrivate'] = false;
    }
    return r;
  }

  private renderComment(issue: StoredIssue, c: StoredComment): Record<string, unknown> {
    return {
      self: `${this.baseUrl}${API}/issue/${issue.id}/comment/${c.id}`,
      id: c.id,
      author: this.userRef(c.authorId),
      body: c.body,
      updateAuthor: this.userRef(c.updateAuthorId),
      created: jiraTime(c.createdMs),
      updated: jiraTime(c.updatedMs),
      jsdPublic: true,
    };
  }

  renderIssue(
    i: StoredIssue,
    opts: { fields: string[] | null; expandChangelog: boolean },
  ): Record<string, unknown> {
    const wanted = resolveFields(opts.fields);
    const st = statusById(i.statusId);
    const project = this.projects.get(i.projectKey);
    const type = ISSUE_TYPES.find((t) => t.id === i.issueTypeId);
    const all: Record<string, () => unknown> = {
      summary: () => i.summary,
      description: () => i.description,
      status: () => this.renderStatus(st),
      priority: () => this.renderPriority(i.priorityId),
      assignee: () => this.userRef(i.assigneeId),
      reporter: () => this.userRef(i.reporterId),
      creator: () => this.userRef(i.creatorId),
      labels: () => i.labels,
      duedate: () => i.duedate,
      issuetype: () =>
        type
          ? {
              self: `${this.baseUrl}${API}/issuetype/${type.id}`,
              id: type.id,
              description: type.description,
              name: type.name,
              subtask: false,
              hierarchyLevel: 0,
            }
          : null,
      project: () => (project ? this.renderProject(project, false) : null),
      created: () => jiraTime(i.createdMs),
      updated: () => jiraTime(i.updatedMs),
      resolution: () =>
        st.resolution && i.resolutionMs !== null
          ? {
              self: `${this.baseUrl}${API}/resolution/${st.resolution.id}`,
              id: st.resolution.id,
              name: st.resolution.name,
              description: '',
            }
          : null,
      resolutiondate: () => (i.resolutionMs === null ? null : jiraTime(i.resolutionMs)),
      statuscategorychangedate: () => jiraTime(i.statusCategoryChangedMs),
      comment: () => ({
        comments: i.comments.map((c) => this.renderComment(i, c)),
        self: `${this.baseUrl}${API}/issue/${i.id}/comment`,
        maxResults: i.comments.length,
        total: i.comments.length,
        startAt: 0,
      }),
    };
    const fields: Record<string, unknown> = {};
    for (const f of ALL_FIELDS) if (wanted.has(f)) fields[f] = all[f]?.();
    const r: Record<string, unknown> = {
      expand: 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations',
      id: i.id,
      self: `${this.baseUrl}${API}/issue/${i.id}`,
      key: i.key,
      fields,
    };
    if (opts.expandChangelog) {
      const histories = [...i.histories].reverse().map((h) => ({
        id: h.id,
        author: this.userRef(h.authorId),
        created: jiraTime(h.createdMs),
        items: h.items,
      }));
      r['changelog'] = { startAt: 0, maxResults: histories.length, total: histories.length, histories };
    }
    return r;
  }

  private pickProperties(i: StoredIssue, keys: string[]): Record<string, unknown> {
    const wantAll = keys.includes('*all');
    const out: Record<string, unknown> = {};
    for (const [k, v] of i.properties) if (wantAll || keys.includes(k)) out[k] = v;
    return out;
  }

  // ---- state helpers --------------------------------------------------------------------------

  /** A strictly increasing clock, so every change moves `updated` forward. */
  private tick(): number {
    this.lastMs = Math.max(Date.now(), this.lastMs + 1);
    return this.lastMs;
  }

  private newIssue(d: {
    projectKey: string;
    issueTypeId: string;
    summary: string;
    description: unknown;
    priorityId: string;
    assigneeId: string | null;
    reporterId: string;
    creatorId: string;
    labels: string[];
    duedate: string | null;
    at: number;
  }): StoredIssue {
    if (!this.projects.has(d.projectKey)) throw new Error(`creating jira issue: no project ${d.projectKey}`);
    const n = (this.projectCounters.get(d.projectKey) ?? 0) + 1;
    this.projectCounters.set(d.projectKey, n);
    const issue: StoredIssue = {
      id: String(this.nextIssueId++),
      key: `${d.projectKey}-${n}`,
      projectKey: d.projectKey,
      issueTypeId: d.issueTypeId,
      summary: d.summary,
      description: d.description,
      statusId: STATUSES[0]?.id ?? '10000',
      priorityId: d.priorityId,
      assigneeId: d.assigneeId,
      reporterId: d.reporterId,
      creatorId: d.creatorId,
      labels: d.labels,
      duedate: d.duedate,
      createdMs: d.at,
      updatedMs: d.at,
      statusCategoryChangedMs: d.at,
      resolutionMs: null,
      comments: [],
      properties: new Map(),
      histories: [],
    };
    this.issues.set(issue.id, issue);
    this.keyIndex.set(issue.key, issue.id);
    return issue;
  }

  private setStatus(issue: StoredIssue, target: Status, at = issue.updatedMs): void {
    const before = statusById(issue.statusId);
    issue.statusId = target.id;
    if (before.category !== target.category) issue.statusCategoryChangedMs = at;
    issue.resolutionMs = target.resolution ? (issue.resolutionMs ?? at) : null;
    if (target.resolution && before.resolution?.id !== target.resolution.id) issue.resolutionMs = at;
    issue.updatedMs = Math.max(issue.updatedMs, at);
  }

  private statusItems(issue: StoredIssue, target: Status): ChangeItem[] {
    const before = statusById(issue.statusId);
    const items: ChangeItem[] = [
      {
        field: 'status',
        fieldtype: 'jira',
        fieldId: 'status',
        from: before.id,
        fromString: before.name,
        to: target.id,
        toString: target.name,
      },
    ];
    if (before.resolution?.id !== target.resolution?.id)
      items.push({
        field: 'resolution',
        fieldtype: 'jira',
        fieldId: 'resolution',
        from: before.resolution?.id ?? null,
        fromString: before.resolution?.name ?? null,
        to: target.resolution?.id ?? null,
        toString: target.resolution?.name ?? null,
      });
    return items;
  }

  private record(issue: StoredIssue, actor: EmulatedUser, at: number, items: ChangeItem[]): void {
    issue.updatedMs = at;
    issue.histories.push({ id: String(this.nextHistoryId++), authorId: actor.id, createdMs: at, items });
  }

  private diff(
    issue: StoredIssue,
    d: {
      summary: string;
      description: unknown;
      priorityId: string;
      assigneeId: string | null;
      reporterId: string;
      labels: string[];
      duedate: string | null;
    },
  ): ChangeItem[] {
    const items: ChangeItem[] = [];
    const item = (
      field: string,
      from: string | null,
      fromString: string | null,
      to: string | null,
      toString: string | null,
    ): void => {
      items.push({ field, fieldtype: 'jira', fieldId: field, from, fromString, to, toString });
    };
    if (d.summary !== issue.summary) item('summary', null, issue.summary, null, d.summary);
    if (JSON.stringify(d.description) !== JSON.stringify(issue.description))
      item('description', null, adfText(issue.description) || null, null, adfText(d.description) || null);
    if (d.priorityId !== issue.priorityId)
      item(
        'priority',
        issue.priorityId,
        priorityById(issue.priorityId).name,
        d.priorityId,
        priorityById(d.priorityId).name,
      );
    if (d.assigneeId !== issue.assigneeId) {
      const name = (id: string | null): string | null =>
        id === null ? null : (this.kit?.actors.get(id)?.name ?? id);
      item('assignee', issue.assigneeId, name(issue.assigneeId), d.assigneeId, name(d.assigneeId));
    }
    if (d.reporterId !== issue.reporterId) item('reporter', issue.reporterId, null, d.reporterId, null);
    if (d.labels.join(' ') !== issue.labels.join(' '))
      item('labels', null, issue.labels.join(' ') || null, null, d.labels.join(' ') || null);
    if (d.duedate !== issue.duedate) item('duedate', issue.duedate, issue.duedate, d.duedate, d.duedate);
    return items;
  }

  /** Applies `fields` and `update` operations to a draft, collecting Jira's per-field errors. */
  private applyFields(
    fields: Body,
    update: Body,
    draft: {
      summary: string;
      description: unknown;
      priorityId: string;
      assigneeId: string | null;
      reporterId: string;
      labels: string[];
      duedate: string | null;
    },
    errors: Errors,
    allowed: Set<string>,
  ): void {
    const set = (f: string, v: unknown): void => {
      if (!allowed.has(f) || errors[f]) return;
      switch (f) {
        case 'summary':
          if (typeof v !== 'string' || v.trim() === '')
            errors[f] = 'You must specify a summary of the issue.';
          else if (v.length > 255) errors[f] = 'Summary must be less than 255 characters.';
          else draft.summary = v;
          return;
        case 'description':
          if (v !== null && !isAdfDoc(v)) errors[f] = ADF_REQUIRED;
          else draft.description = v;
          return;
        case 'priority': {
          const ref = (v ?? {}) as Body;
          const p = PRIORITIES.find((x) => x.id === ref['id'] || x.name === ref['name']);
          if (!p) errors[f] = `Specify a valid 'id' or 'name' for Priority`;
          else draft.priorityId = p.id;
          return;
        }
        case 'assignee':
        case 'reporter': {
          if (v === null && f === 'assignee') {
            draft.assigneeId = null;
            return;
          }
          const id = v && typeof v === 'object' ? (v as Body)['accountId'] : undefined;
          const user = typeof id === 'string' ? this.kit?.actors.get(id) : undefined;
          if (!user) errors[f] = `Specified user does not exist or you do not have required permissions`;
          else if (f === 'assignee') draft.assigneeId = user.id;
          else draft.reporterId = user.id;
          return;
        }
        case 'labels':
          if (!Array.isArray(v) || v.some((l) => typeof l !== 'string'))
            errors[f] = 'The labels field must be an array of strings.';
          else {
            const bad = (v as string[]).find((l) => /\s/.test(l) || l === '');
            if (bad !== undefined) errors[f] = `The label '${bad}' contains spaces which is invalid.`;
            else draft.labels = [...new Set(v as string[])];
          }
          return;
        case 'duedate':
          if (v === null) draft.duedate = null;
          else if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v))
            errors[f] = `Error parsing date string: ${String(v)}`;
          else draft.duedate = v;
          return;
        default:
          return;
      }
    };
    for (const [f, v] of Object.entries(fields)) if (f !== 'project' && f !== 'issuetype') set(f, v);
    for (const [f, ops] of Object.entries(update)) {
      if (f === 'comment') continue;
      if (!allowed.has(f)) {
        errors[f] = `Field '${f}' cannot be set. It is not on the appropriate screen, or unknown.`;
        continue;
      }
      for (const op of ops as Body[]) {
        if ('set' in op) set(f, op['set']);
        else if (f === 'labels' && ('add' in op || 'remove' in op)) {
          const l = String(op['add'] ?? op['remove']);
          if ('add' in op) {
            if (/\s/.test(l)) errors[f] = `The label '${l}' contains spaces which is invalid.`;
            else if (!draft.labels.includes(l)) draft.labels.push(l);
          } else draft.labels = draft.labels.filter((x) => x !== l);
        } else errors[f] = `Operation not supported for field '${f}'.`;
      }
    }
  }

  private withIssue(idOrKey: string, fn: (i: StoredIssue) => EmulatorResponse): EmulatorResponse {
    const id = this.issues.has(idOrKey) ? idOrKey : this.keyIndex.get(idOrKey.toUpperCase());
    const issue = id === undefined ? undefined : this.issues.get(id);
    return issue ? fn(issue) : jiraError(404, [NOT_FOUND_ISSUE]);
  }

  private withComment(
    idOrKey: string,
    id: string,
    fn: (i: StoredIssue, c: StoredComment) => EmulatorResponse,
  ): EmulatorResponse {
    return this.withIssue(idOrKey, (issue) => {
      const c = issue.comments.find((x) => x.id === id);
      return c ? fn(issue, c) : jiraError(404, [`Can not find a comment for the id: ${id}.`]);
    });
  }
}

/**
 * A comment create's `properties` (EntityProperty[]: key and value "Required on create"), as a
 * map, or the problem. Jira's entity-property limits: a key of at most 255 characters, a value of
 * at most 32768 bytes of JSON. (The messages are the emulator's; Jira's wording is not published.)
 */
function commentProperties(raw: unknown): Record<string, unknown> | string | undefined {
  if (raw === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const p of raw as { key?: unknown; value?: unknown }[]) {
    if (typeof p.key !== 'string' || p.key === '') return 'The property key must be specified.';
    if (p.key.length > 255) return 'The property key can not be longer than 255 characters.';
    if (p.value === undefined) return `The value of property ${p.key} must be specified.`;
    if (Buffer.byteLength(JSON.stringify(p.value)) > 32768)
      return `The value of property ${p.key} is longer than 32768 bytes.`;
    out[p.key] = p.value;
  }
  return out;
}

function commentBodyProblem(body: unknown): string | null {
  if (body === undefined || body === null) return 'Comment body can not be empty!';
  if (!isAdfDoc(body)) return ADF_REQUIRED;
  if (adfText(body).trim() === '' && (body as { content: unknown[] }).content.length === 0)
    return 'Comment body can not be empty!';
  return null;
}

/** `fields` as Jira reads it: `*all`, `*navigable`, names, and `-name` exclusions; none means all. */
function resolveFields(list: string[] | null): Set<string> {
  if (list === null || list.length === 0) return new Set(ALL_FIELDS);
  const out = new Set<string>();
  for (const raw of list) {
    const f = raw.trim();
    if (f === '*all') ALL_FIELDS.forEach((x) => out.add(x));
    else if (f === '*navigable') ALL_FIELDS.filter((x) => x !== 'comment').forEach((x) => out.add(x));
  }
  for (const raw of list) {
    const f = raw.trim();
    if (f.startsWith('-')) out.delete(f.slice(1));
    else if (!f.startsWith('*')) out.add(f);
  }
  return out;
}

function encodeToken(t: { jql: string; offset: number }): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeToken(s: string): { jql: string; offset: number } | null {
  try {
    const t = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as { jql?: unknown; offset?: unknown };
    return typeof t.jql === 'string' && typeof t.offset === 'number'
      ? { jql: t.jql, offset: t.offset }
      : null;
  } catch {
    return null;
  }
}
