/**
 * The root Query and Mutation resolvers over the in-memory workspace, and the views that turn
 * records into GraphQL objects. A view holds a value or a function per field; fields a view does
 * not model fall to the default resolver in graphql.ts (empty list, null, or a typed default).
 */
import { randomUUID } from 'node:crypto';
import type { EmulatedUser } from '../common/actors.ts';
import { argumentValidation, forbidden, inputError, notFound, unsupported } from './errors.ts';
import { connection, type ConnectionArgs, type FilterRecord } from './query.ts';
import {
  newSecret,
  type Attachment,
  type Comment,
  type Issue,
  type IssueLabel,
  type LinearState,
  type Team,
  type Webhook,
  type WorkflowState,
} from './state.ts';

/** A state change, turned into webhook deliveries by index.ts. */
export interface LinearEvent {
  type: 'Issue' | 'Comment';
  action: 'create' | 'update' | 'remove';
  teamId: string;
  data: Record<string, unknown>;
  updatedFrom?: Record<string, unknown>;
  actor: EmulatedUser;
  createdAt: string;
}

export interface Ctx {
  st: LinearState;
  actor: EmulatedUser;
  emit(e: LinearEvent): void;
}

type Args = Record<string, unknown>;

export const PRIORITY_LABELS = ['No priority', 'Urgent', 'High', 'Medium', 'Low'] as const;

// ---------- filter records (what `filter:` walks) ----------

function teamRec(st: LinearState, t: Team): FilterRecord {
  return { id: t.id, key: t.key, name: t.name, createdAt: t.createdAt, updatedAt: t.updatedAt };
}
function stateRec(st: LinearState, s: WorkflowState): FilterRecord {
  return {
    id: s.id,
    name: s.name,
    type: s.type,
    position: s.position,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    get team() {
      return teamRec(st, st.teams.get(s.teamId)!);
    },
  };
}
function userRec(st: LinearState, u: EmulatedUser, ctx: Ctx): FilterRecord {
  const m = st.meta(u.id);
  return {
    id: u.id,
    name: u.name,
    displayName: displayName(u),
    email: u.email,
    active: true,
    admin: m.admin,
    app: false,
    isMe: u.id === ctx.actor.id,
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
  };
}
function labelRec(st: LinearState, l: IssueLabel): FilterRecord {
  return {
    id: l.id,
    name: l.name,
    createdAt: l.createdAt,
    updatedAt: l.updatedAt,
    get team() {
      return l.teamId ? teamRec(st, st.teams.get(l.teamId)!) : null;
    },
  };
}
function issueRec(st: LinearState, i: Issue, ctx: Ctx): FilterRecord {
  return {
    id: i.id,
    number: i.number,
    title: i.title,
    description: i.description,
    priority: i.priority,
    dueDate: i.dueDate,
    createdAt: i.createdAt,
    updatedAt: i.updatedAt,
    startedAt: i.startedAt,
    completedAt: i.completedAt,
    canceledAt: i.canceledAt,
    archivedAt: i.archivedAt,
    get team() {
      return teamRec(st, st.teams.get(i.teamId)!);
    },
    get state() {
      return stateRec(st, st.states.get(i.stateId)!);
    },
    get assignee() {
      const u = i.assigneeId ? st.actors.get(i.assigneeId) : undefined;
      return u ? userRec(st, u, ctx) : null;
    },
    get creator() {
      const u = i.creatorId ? st.actors.get(i.creatorId) : undefined;
      return u ? userRec(st, u, ctx) : null;
    },
    get labels() {
      return i.labelIds.map((id) => labelRec(st, st.labels.get(id)!));
    },
    get comments() {
      return [...st.comments.values()].filter((c) => c.issueId === i.id).map((c) => commentRec(st, c, ctx));
    },
    get attachments() {
      return [...st.attachments.values()]
        .filter((a) => a.issueId === i.id)
        .map((a) => attachmentRec(st, a, ctx));
    },
  };
}
function commentRec(st: LinearState, c: Comment, ctx: Ctx): FilterRecord {
  return {
    id: c.id,
    body: c.body,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    get issue() {
      return issueRec(st, st.issues.get(c.issueId)!, ctx);
    },
    get user() {
      const u = st.actors.get(c.userId);
      return u ? userRec(st, u, ctx) : null;
    },
  };
}
function attachmentRec(st: LinearState, a: Attachment, ctx: Ctx): FilterRecord {
  return {
    id: a.id,
    url: a.url,
    title: a.title,
    subtitle: a.subtitle,
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
    get issue() {
      return issueRec(st, st.issues.get(a.issueId)!, ctx);
    },
  };
}

// ---------- views (what queries return) ----------

function displayName(u: EmulatedUser): string {
  return (u.email?.split('@')[0] ?? u.name.split(' ')[0] ?? u.name).toLowerCase();
}

function list<T extends { id: string; createdAt: string; updatedAt: string; archivedAt?: string | null }>(
  ctx: Ctx,
  items: Iterable<T>,
  args: Args,
  record: (t: T) => FilterRecord,
  view: (t: T) => unknown,
): unknown {
  return connection(items, args as ConnectionArgs, { record, view, now: () => Date.now() });
}

function orgView(ctx: Ctx): unknown {
  const o = ctx.st.org;
  return { id: o.id, name: o.name, urlKey: o.urlKey, createdAt: o.createdAt, updatedAt: o.createdAt };
}

function teamView(ctx: Ctx, t: Team): unknown {
  const { st } = ctx;
  return {
    id: t.id,
    key: t.key,
    name: t.name,
    displayName: t.name,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
    issueCount: [...st.issues.values()].filter((i) => i.teamId === t.id && !i.archivedAt).length,
    organization: () => orgView(ctx),
    states: (a: Args) =>
      list(
        ctx,
        st.teamStates(t.id),
        a,
        (s) => stateRec(st, s),
        (s) => stateView(ctx, s),
      ),
    issues: (a: Args) =>
      list(
        ctx,
        [...st.issues.values()].filter((i) => i.teamId === t.id),
        a,
        (i) => issueRec(st, i, ctx),
        (i) => issueView(ctx, i),
      ),
    labels: (a: Args) =>
      list(
        ctx,
        [...st.labels.values()].filter((l) => l.teamId === t.id),
        a,
        (l) => labelRec(st, l),
        (l) => labelView(ctx, l),
      ),
    members: (a: Args) =>
      list(
        ctx,
        st.users().map((u) => withMeta(ctx, u)),
        a,
        (u) => userRec(st, u, ctx),
        (u) => userView(ctx, u),
      ),
  };
}

function withMeta(ctx: Ctx, u: EmulatedUser): EmulatedUser & { createdAt: string; updatedAt: string } {
  const m = ctx.st.meta(u.id);
  return { ...u, createdAt: m.createdAt, updatedAt: m.updatedAt };
}

function stateView(ctx: Ctx, s: WorkflowState): unknown {
  return {
    id: s.id,
    name: s.name,
    type: s.type,
    position: s.position,
    color: s.color,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    team: () => teamView(ctx, ctx.st.teams.get(s.teamId)!),
  };
}

function labelView(ctx: Ctx, l: IssueLabel): unknown {
  return {
    id: l.id,
    name: l.name,
    color: l.color,
    description: l.description,
    isGroup: false,
    createdAt: l.createdAt,
    updatedAt: l.updatedAt,
    creator: () => userById(ctx, l.creatorId),
    team: () => (l.teamId ? teamView(ctx, ctx.st.teams.get(l.teamId)!) : null),
    organization: () => orgView(ctx),
  };
}

function userView(ctx: Ctx, u: EmulatedUser): unknown {
  const m = ctx.st.meta(u.id);
  return {
    id: u.id,
    name: u.name,
    displayName: displayName(u),
    // Linear users always have an email; a person the emulator made up from an unknown token has none.
    email: u.email ?? '',
    active: true,
    admin: m.admin,
    app: false,
    guest: false,
    isMe: u.id === ctx.actor.id,
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
    url: `https://linear.app/${ctx.st.org.urlKey}/profiles/${displayName(u)}`,
    organization: () => orgView(ctx),
    assignedIssues: (a: Args) =>
      list(
        ctx,
        [...ctx.st.issues.values()].filter((i) => i.assigneeId === u.id),
        a,
        (i) => issueRec(ctx.st, i, ctx),
        (i) => issueView(ctx, i),
      ),
  };
}

function userById(ctx: Ctx, id: string | null): unknown {
  if (!id) return null;
  const u = ctx.st.actors.get(id);
  return u ? userView(ctx, u) : null;
}

export function issueView(ctx: Ctx, i: Issue): unknown {
  const { st } = ctx;
  return {
    id: i.id,
    identifier: st.identifier(i),
    number: i.number,
    title: i.title,
    description: i.description,
    priority: i.priority,
    priorityLabel: PRIORITY_LABELS[i.priority],
    dueDate: i.dueDate,
    createdAt: i.createdAt,
    updatedAt: i.updatedAt,
    startedAt: i.startedAt,
    completedAt: i.completedAt,
    canceledAt: i.canceledAt,
    archivedAt: i.archivedAt,
    trashed: i.trashed || null,
    labelIds: i.labelIds,
    url: st.issueUrl(i),
    branchName: `${st.identifier(i).toLowerCase()}`,
    team: () => teamView(ctx, st.teams.get(i.teamId)!),
    state: () => stateView(ctx, st.states.get(i.stateId)!),
    assignee: () => userById(ctx, i.assigneeId),
    creator: () => userById(ctx, i.creatorId),
    labels: (a: Args) =>
      list(
        ctx,
        i.labelIds.map((id) => st.labels.get(id)!),
        a,
        (l) => labelRec(st, l),
        (l) => labelView(ctx, l),
      ),
    comments: (a: Args) =>
      list(
        ctx,
        [...st.comments.values()].filter((c) => c.issueId === i.id),
        a,
        (c) => commentRec(st, c, ctx),
        (c) => commentView(ctx, c),
      ),
    attachments: (a: Args) =>
      list(
        ctx,
        [...st.attachments.values()].filter((x) => x.issueId === i.id),
        a,
        (x) => attachmentRec(st, x, ctx),
        (x) => attachmentView(ctx, x),
      ),
  };
}

function commentView(ctx: Ctx, c: Comment): unknown {
  const issue = ctx.st.issues.get(c.issueId)!;
  return {
    id: c.id,
    body: c.body,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    editedAt: c.editedAt,
    archivedAt: c.archivedAt,
    issueId: c.issueId,
    parentId: c.parentId,
    url: `${ctx.st.issueUrl(issue)}#comment-${c.id.slice(0, 8)}`,
    issue: () => issueView(ctx, issue),
    user: () => userById(ctx, c.userId),
    parent: () => {
      const p = c.parentId ? ctx.st.comments.get(c.parentId) : undefined;
      return p ? commentView(ctx, p) : null;
    },
  };
}

function attachmentView(ctx: Ctx, a: Attachment): unknown {
  return {
    id: a.id,
    url: a.url,
    title: a.title,
    subtitle: a.subtitle,
    metadata: a.metadata,
    groupBySource: false,
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
    issue: () => issueView(ctx, ctx.st.issues.get(a.issueId)!),
    creator: () => userById(ctx, a.creatorId),
  };
}

function webhookView(ctx: Ctx, w: Webhook): unknown {
  return {
    id: w.id,
    url: w.url,
    label: w.label,
    secret: w.secret,
    enabled: w.enabled,
    resourceTypes: w.resourceTypes,
    allPublicTeams: w.allPublicTeams,
    teamIds: w.teamId ? [w.teamId] : null,
    createdAt: w.createdAt,
    updatedAt: w.updatedAt,
    team: () => (w.teamId ? teamView(ctx, ctx.st.teams.get(w.teamId)!) : null),
    creator: () => userById(ctx, w.creatorId),
  };
}

// ---------- webhook `data` (a snapshot at the time of the change) ----------

export function issueData(st: LinearState, i: Issue): Record<string, unknown> {
  const team = st.teams.get(i.teamId)!;
  const state = st.states.get(i.stateId)!;
  const assignee = i.assigneeId ? st.actors.get(i.assigneeId) : undefined;
  return {
    id: i.id,
    createdAt: i.createdAt,
    updatedAt: i.updatedAt,
    archivedAt: i.archivedAt,
    number: i.number,
    identifier: st.identifier(i),
    title: i.title,
    description: i.description,
    priority: i.priority,
    priorityLabel: PRIORITY_LABELS[i.priority],
    startedAt: i.startedAt,
    completedAt: i.completedAt,
    canceledAt: i.canceledAt,
    dueDate: i.dueDate,
    trashed: i.trashed || null,
    teamId: team.id,
    team: { id: team.id, key: team.key, name: team.name },
    stateId: state.id,
    state: { id: state.id, name: state.name, type: state.type, color: state.color },
    assigneeId: i.assigneeId,
    ...(assignee ? { assignee: { id: assignee.id, name: assignee.name, email: assignee.email } } : {}),
    creatorId: i.creatorId,
    labelIds: [...i.labelIds],
    labels: i.labelIds.map((id) => {
      const l = st.labels.get(id)!;
      return { id: l.id, name: l.name, color: l.color };
    }),
    url: st.issueUrl(i),
  };
}

export function commentData(st: LinearState, c: Comment): Record<string, unknown> {
  const issue = st.issues.get(c.issueId)!;
  const user = st.actors.get(c.userId);
  return {
    id: c.id,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    archivedAt: c.archivedAt,
    editedAt: c.editedAt,
    body: c.body,
    issueId: c.issueId,
    parentId: c.parentId,
    userId: c.userId,
    reactionData: [],
    issue: {
      id: issue.id,
      identifier: st.identifier(issue),
      title: issue.title,
      teamId: issue.teamId,
      url: st.issueUrl(issue),
    },
    ...(user ? { user: { id: user.id, name: user.name, email: user.email } } : {}),
  };
}

// ---------- input checks ----------

function onlyFields(op: string, input: Args, allowed: readonly string[]): void {
  for (const k of Object.keys(input))
    if (!allowed.includes(k) && input[k] !== undefined) throw unsupported(`the ${op} input field "${k}"`);
}

function checkPriority(p: unknown): number {
  const n = p as number;
  if (n < 0) throw argumentValidation('priority must not be less than 0.');
  if (n > 4) throw argumentValidation('priority must not be greater than 4.');
  return n;
}

function checkDueDate(d: unknown): string | null {
  if (d === null) return null;
  if (typeof d !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(d) || Number.isNaN(Date.parse(d)))
    throw argumentValidation('dueDate must be a valid ISO 8601 date string.');
  return d;
}

function resolveIssue(ctx: Ctx, id: string): Issue {
  const i = ctx.st.issueByIdOrIdentifier(id);
  if (!i || i.trashed) throw notFound('Issue');
  return i;
}

function resolveState(ctx: Ctx, id: string, teamId: string): WorkflowState {
  const s = ctx.st.states.get(id);
  if (!s) throw notFound('WorkflowState');
  if (s.teamId !== teamId)
    throw argumentValidation("The workflow state does not belong to the issue's team.");
  return s;
}

function resolveUserId(ctx: Ctx, id: string | null): string | null {
  if (id === null) return null;
  if (!ctx.st.actors.get(id)) throw notFound('User');
  return id;
}

function resolveLabelIds(ctx: Ctx, ids: string[], teamId: string): string[] {
  for (const id of ids) {
    const l = ctx.st.labels.get(id);
    if (!l || (l.teamId !== null && l.teamId !== teamId))
      throw inputError(
        'Entity not found: IssueLabel: labelIds contained an entry that could not be found.',
        'Could not find referenced IssueLabel.',
      );
  }
  return [...new Set(ids)];
}

/**
 * Linear refuses a label whose name another label already has where both would be usable: the same
 * team, or a workspace label (usable in every team). Third-party reports: the check ignores case
 * and label groups; the error is "Duplicate label name" / "Label with this name already exists in
 * the team" (linear/linear#159, #428). A workspace label clashing with a team label is our reading
 * of `replaceTeamLabels`; see README.md.
 */
function checkLabelName(ctx: Ctx, name: unknown, teamId: string | null, self: string | null): string {
  if (typeof name !== 'string' || name.trim() === '') throw argumentValidation('name should not be empty.');
  const key = name.toLowerCase();
  const clash = [...ctx.st.labels.values()].find(
    (l) =>
      l.id !== self &&
      l.name.toLowerCase() === key &&
      (teamId === null || l.teamId === null || l.teamId === teamId),
  );
  if (clash)
    throw inputError(
      'Duplicate label name',
      teamId === null || clash.teamId === null
        ? 'Label with this name already exists in the workspace'
        : 'Label with this name already exists in the team',
    );
  return name;
}

function checkColor(c: unknown): string {
  if (typeof c !== 'string' || !/^#[0-9a-fA-F]{6}$/.test(c))
    throw argumentValidation('color must be a hexadecimal color.');
  return c;
}

/** Label groups, nesting and retiring are not modelled; `isGroup: false` is the default, so it passes. */
function refuseLabelExtras(op: string, input: Args, args: Args): void {
  if (input.isGroup === true) throw unsupported(`${op} with isGroup: true (label groups)`);
  if (input.parentId != null) throw unsupported(`${op} with parentId (label groups)`);
  if (input.retiredAt !== undefined) throw unsupported(`${op} with retiredAt (retired labels)`);
  if (args.replaceTeamLabels === true) throw unsupported(`${op}(replaceTeamLabels: true)`);
}

function requireAdmin(ctx: Ctx, what: string): void {
  if (!ctx.st.meta(ctx.actor.id).admin)
    throw forbidden('Invalid role: admin required', `You need to be a workspace admin to ${what}.`);
}

/** Moves the lifecycle timestamps the way a state change does in Linear. */
function applyStateTimes(i: Issue, s: WorkflowState, now: string): void {
  if (s.type === 'started' && !i.startedAt) i.startedAt = now;
  i.completedAt = s.type === 'completed' ? (i.completedAt ?? now) : null;
  i.canceledAt = s.type === 'canceled' ? (i.canceledAt ?? now) : null;
}

const ISSUE_DIFF_KEYS = [
  'title',
  'description',
  'priority',
  'stateId',
  'assigneeId',
  'labelIds',
  'dueDate',
  'startedAt',
  'completedAt',
  'canceledAt',
  'trashed',
  'archivedAt',
  'updatedAt',
] as const;

function diff<T extends object>(before: T, after: T, keys: readonly (keyof T)[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) out[k as string] = before[k] ?? null;
  }
  return out;
}

// ---------- root resolvers ----------

export function rootValue(): Record<string, (args: Args, ctx: Ctx) => unknown> {
  const payload = (ctx: Ctx, extra: Record<string, unknown>): unknown => ({
    success: true,
    lastSyncId: ctx.st.syncId,
    ...extra,
  });

  return {
    // ----- queries -----
    viewer: (_a, ctx) => userView(ctx, ctx.actor),
    organization: (_a, ctx) => orgView(ctx),
    issue: (a, ctx) => issueView(ctx, resolveIssue(ctx, a.id as string)),
    issues: (a, ctx) =>
      list(
        ctx,
        [...ctx.st.issues.values()].filter((i) => !i.trashed),
        a,
        (i) => issueRec(ctx.st, i, ctx),
        (i) => issueView(ctx, i),
      ),
    comment: (a, ctx) => {
      if (a.id == null) throw unsupported('comment(hash:)');
      const c = ctx.st.comments.get(a.id as string);
      if (!c || c.archivedAt) throw notFound('Comment');
      return commentView(ctx, c);
    },
    comments: (a, ctx) =>
      list(
        ctx,
        ctx.st.comments.values(),
        a,
        (c) => commentRec(ctx.st, c, ctx),
        (c) => commentView(ctx, c),
      ),
    team: (a, ctx) => {
      const t = ctx.st.teams.get(a.id as string);
      if (!t) throw notFound('Team');
      return teamView(ctx, t);
    },
    teams: (a, ctx) =>
      list(
        ctx,
        ctx.st.teams.values(),
        a,
        (t) => teamRec(ctx.st, t),
        (t) => teamView(ctx, t),
      ),
    workflowState: (a, ctx) => {
      const s = ctx.st.states.get(a.id as string);
      if (!s) throw notFound('WorkflowState');
      return stateView(ctx, s);
    },
    workflowStates: (a, ctx) =>
      list(
        ctx,
        ctx.st.states.values(),
        a,
        (s) => stateRec(ctx.st, s),
        (s) => stateView(ctx, s),
      ),
    user: (a, ctx) => {
      const u = ctx.st.actors.get(a.id as string);
      if (!u) throw notFound('User');
      return userView(ctx, u);
    },
    users: (a, ctx) =>
      list(
        ctx,
        ctx.st.users().map((u) => withMeta(ctx, u)),
        a,
        (u) => userRec(ctx.st, u, ctx),
        (u) => userView(ctx, u),
      ),
    issueLabel: (a, ctx) => {
      const l = ctx.st.labels.get(a.id as string);
      if (!l) throw notFound('IssueLabel');
      return labelView(ctx, l);
    },
    issueLabels: (a, ctx) =>
      list(
        ctx,
        ctx.st.labels.values(),
        a,
        (l) => labelRec(ctx.st, l),
        (l) => labelView(ctx, l),
      ),
    attachment: (a, ctx) => {
      const x = ctx.st.attachments.get(a.id as string);
      if (!x) throw notFound('Attachment');
      return attachmentView(ctx, x);
    },
    attachments: (a, ctx) =>
      list(
        ctx,
        ctx.st.attachments.values(),
        a,
        (x) => attachmentRec(ctx.st, x, ctx),
        (x) => attachmentView(ctx, x),
      ),
    attachmentsForURL: (a, ctx) => {
      const { url, ...rest } = a;
      return list(
        ctx,
        [...ctx.st.attachments.values()].filter((x) => x.url === url),
        rest,
        (x) => attachmentRec(ctx.st, x, ctx),
        (x) => attachmentView(ctx, x),
      );
    },
    webhook: (a, ctx) => {
      requireAdmin(ctx, 'read webhooks');
      const w = ctx.st.webhooks.get(a.id as string);
      if (!w) throw notFound('Webhook');
      return webhookView(ctx, w);
    },
    webhooks: (a, ctx) => {
      requireAdmin(ctx, 'read webhooks');
      return list(
        ctx,
        ctx.st.webhooks.values(),
        a,
        (w) => ({ id: w.id }),
        (w) => webhookView(ctx, w),
      );
    },

    // ----- mutations -----
    issueCreate: (a, ctx) => {
      const { st } = ctx;
      const input = a.input as Args;
      onlyFields('issueCreate', input, [
        'id',
        'teamId',
        'title',
        'description',
        'stateId',
        'priority',
        'assigneeId',
        'labelIds',
        'dueDate',
      ]);
      const team = st.teams.get(input.teamId as string);
      if (!team) throw notFound('Team');
      if (input.id !== undefined && st.issues.has(input.id as string))
        throw argumentValidation('An issue with this id already exists.');
      const state = input.stateId
        ? resolveState(ctx, input.stateId as string, team.id)
        : st.defaultState(team.id);
      const now = st.now();
      const issue: Issue = {
        id: (input.id as string | undefined) ?? randomUUID(),
        teamId: team.id,
        number: ++team.issueCount,
        title: (input.title as string | undefined) ?? '',
        description: (input.description as string | undefined) ?? null,
        priority: input.priority == null ? 0 : checkPriority(input.priority),
        stateId: state.id,
        assigneeId: resolveUserId(ctx, (input.assigneeId as string | undefined) ?? null),
        creatorId: ctx.actor.id,
        labelIds: resolveLabelIds(ctx, (input.labelIds as string[] | undefined) ?? [], team.id),
        dueDate: input.dueDate === undefined ? null : checkDueDate(input.dueDate),
        createdAt: now,
        updatedAt: now,
        startedAt: null,
        completedAt: null,
        canceledAt: null,
        archivedAt: null,
        trashed: false,
      };
      applyStateTimes(issue, state, now);
      st.issues.set(issue.id, issue);
      st.syncId++;
      ctx.emit({
        type: 'Issue',
        action: 'create',
        teamId: team.id,
        data: issueData(st, issue),
        actor: ctx.actor,
        createdAt: now,
      });
      return payload(ctx, { issue: issueView(ctx, issue) });
    },
    issueUpdate: (a, ctx) => {
      const { st } = ctx;
      const input = a.input as Args;
      onlyFields('issueUpdate', input, [
        'title',
        'description',
        'stateId',
        'priority',
        'assigneeId',
        'labelIds',
        'addedLabelIds',
        'removedLabelIds',
        'dueDate',
      ]);
      const issue = resolveIssue(ctx, a.id as string);
      const before = { ...issue, labelIds: [...issue.labelIds] };
      const next = { ...before, labelIds: [...before.labelIds] };
      const now = st.now();
      if (input.title !== undefined) next.title = input.title as string;
      if (input.description !== undefined) next.description = input.description as string | null;
      if (input.priority !== undefined)
        next.priority = input.priority === null ? 0 : checkPriority(input.priority);
      if (input.assigneeId !== undefined)
        next.assigneeId = resolveUserId(ctx, input.assigneeId as string | null);
      if (input.dueDate !== undefined) next.dueDate = checkDueDate(input.dueDate);
      if (input.labelIds !== undefined)
        next.labelIds = resolveLabelIds(ctx, (input.labelIds as string[]) ?? [], issue.teamId);
      if (input.addedLabelIds)
        next.labelIds = resolveLabelIds(
          ctx,
          [...next.labelIds, ...(input.addedLabelIds as string[])],
          issue.teamId,
        );
      if (input.removedLabelIds) {
        const removed = new Set(input.removedLabelIds as string[]);
        next.labelIds = next.labelIds.filter((id) => !removed.has(id));
      }
      if (input.stateId !== undefined && input.stateId !== null) {
        const s = resolveState(ctx, input.stateId as string, issue.teamId);
        next.stateId = s.id;
        if (s.id !== before.stateId) applyStateTimes(next, s, now);
      }
      const changed = diff(before, next, ISSUE_DIFF_KEYS);
      if (Object.keys(changed).length > 0) {
        next.updatedAt = now;
        Object.assign(issue, next);
        st.syncId++;
        ctx.emit({
          type: 'Issue',
          action: 'update',
          teamId: issue.teamId,
          data: issueData(st, issue),
          updatedFrom: { ...changed, updatedAt: before.updatedAt },
          actor: ctx.actor,
          createdAt: now,
        });
      }
      return payload(ctx, { issue: issueView(ctx, issue) });
    },
    issueDelete: (a, ctx) => {
      const { st } = ctx;
      if (a.permanentlyDelete) throw unsupported('issueDelete(permanentlyDelete: true)');
      const issue = resolveIssue(ctx, a.id as string);
      const now = st.now();
      issue.trashed = true;
      issue.archivedAt = now;
      issue.updatedAt = now;
      st.syncId++;
      ctx.emit({
        type: 'Issue',
        action: 'remove',
        teamId: issue.teamId,
        data: issueData(st, issue),
        actor: ctx.actor,
        createdAt: now,
      });
      return payload(ctx, { entity: issueView(ctx, issue) });
    },
    commentCreate: (a, ctx) => {
      const { st } = ctx;
      const input = a.input as Args;
      onlyFields('commentCreate', input, ['id', 'issueId', 'body', 'parentId']);
      if (input.issueId == null) throw unsupported('comments on anything but an issue');
      const issue = resolveIssue(ctx, input.issueId as string);
      if (input.body == null || input.body === '') throw argumentValidation('body should not be empty.');
      let parentId: string | null = null;
      if (input.parentId != null) {
        const p = st.comments.get(input.parentId as string);
        if (!p || p.issueId !== issue.id) throw notFound('Comment');
        parentId = p.id;
      }
      const now = st.now();
      const c: Comment = {
        id: (input.id as string | undefined) ?? randomUUID(),
        issueId: issue.id,
        userId: ctx.actor.id,
        parentId,
        body: input.body as string,
        createdAt: now,
        updatedAt: now,
        editedAt: null,
        archivedAt: null,
      };
      st.comments.set(c.id, c);
      st.syncId++;
      ctx.emit({
        type: 'Comment',
        action: 'create',
        teamId: issue.teamId,
        data: commentData(st, c),
        actor: ctx.actor,
        createdAt: now,
      });
      return payload(ctx, { comment: commentView(ctx, c) });
    },
    commentUpdate: (a, ctx) => {
      const { st } = ctx;
      const input = a.input as Args;
      onlyFields('commentUpdate', input, ['body']);
      const c = st.comments.get(a.id as string);
      if (!c || c.archivedAt) throw notFound('Comment');
      if (c.userId !== ctx.actor.id)
        throw forbidden('Only the author can edit a comment', 'You can only edit your own comments.');
      if (input.body !== undefined && input.body !== c.body) {
        if (input.body === null || input.body === '') throw argumentValidation('body should not be empty.');
        const before = { ...c };
        const now = st.now();
        c.body = input.body as string;
        c.updatedAt = now;
        if (!a.skipEditedAt) c.editedAt = now;
        st.syncId++;
        const issue = st.issues.get(c.issueId)!;
        ctx.emit({
          type: 'Comment',
          action: 'update',
          teamId: issue.teamId,
          data: commentData(st, c),
          updatedFrom: diff(before, c, ['body', 'editedAt', 'updatedAt']),
          actor: ctx.actor,
          createdAt: now,
        });
      }
      return payload(ctx, { comment: commentView(ctx, c) });
    },
    commentDelete: (a, ctx) => {
      const { st } = ctx;
      const c = st.comments.get(a.id as string);
      if (!c || c.archivedAt) throw notFound('Comment');
      if (c.userId !== ctx.actor.id && !st.meta(ctx.actor.id).admin)
        throw forbidden('Only the author can delete a comment', 'You can only delete your own comments.');
      const now = st.now();
      st.comments.delete(c.id);
      st.syncId++;
      const issue = st.issues.get(c.issueId)!;
      ctx.emit({
        type: 'Comment',
        action: 'remove',
        teamId: issue.teamId,
        data: commentData(st, { ...c, archivedAt: now, updatedAt: now }),
        actor: ctx.actor,
        createdAt: now,
      });
      return payload(ctx, { entityId: c.id });
    },
    attachmentCreate: (a, ctx) => {
      const { st } = ctx;
      const input = a.input as Args;
      onlyFields('attachmentCreate', input, [
        'id',
        'issueId',
        'url',
        'title',
        'subtitle',
        'metadata',
        'iconUrl',
      ]);
      const issue = resolveIssue(ctx, input.issueId as string);
      const now = st.now();
      // Linear: "Creates a new attachment, or updates existing if the same `url` and `issueId` is used."
      const existing = [...st.attachments.values()].find(
        (x) => x.issueId === issue.id && x.url === input.url,
      );
      const att: Attachment = existing ?? {
        id: (input.id as string | undefined) ?? randomUUID(),
        issueId: issue.id,
        url: input.url as string,
        title: '',
        subtitle: null,
        metadata: {},
        creatorId: ctx.actor.id,
        createdAt: now,
        updatedAt: now,
      };
      att.title = input.title as string;
      if (input.subtitle !== undefined) att.subtitle = input.subtitle as string | null;
      if (input.metadata !== undefined) att.metadata = (input.metadata as Record<string, unknown>) ?? {};
      att.updatedAt = now;
      st.attachments.set(att.id, att);
      st.syncId++;
      return payload(ctx, { attachment: attachmentView(ctx, att) });
    },
    issueLabelCreate: (a, ctx) => {
      const { st } = ctx;
      const input = a.input as Args;
      onlyFields('issueLabelCreate', input, [
        'id',
        'name',
        'color',
        'description',
        'teamId',
        'isGroup',
        'parentId',
        'retiredAt',
      ]);
      refuseLabelExtras('issueLabelCreate', input, a);
      let teamId: string | null = null;
      if (input.teamId != null) {
        const t = st.teams.get(input.teamId as string);
        if (!t) throw notFound('Team');
        teamId = t.id;
      }
      if (input.id != null && st.labels.has(input.id as string))
        throw argumentValidation('A label with this id already exists.');
      const name = checkLabelName(ctx, input.name, teamId, null);
      const now = st.now();
      const label: IssueLabel = {
        id: (input.id as string | undefined) ?? randomUUID(),
        name,
        // Linear picks a colour when none is given; which one is not documented.
        color: input.color == null ? '#bec2c8' : checkColor(input.color),
        description: (input.description as string | null | undefined) ?? null,
        teamId,
        creatorId: ctx.actor.id,
        createdAt: now,
        updatedAt: now,
      };
      st.labels.set(label.id, label);
      st.syncId++;
      return payload(ctx, { issueLabel: labelView(ctx, label) });
    },
    issueLabelUpdate: (a, ctx) => {
      const { st } = ctx;
      const input = a.input as Args;
      onlyFields('issueLabelUpdate', input, [
        'name',
        'color',
        'description',
        'isGroup',
        'parentId',
        'retiredAt',
      ]);
      refuseLabelExtras('issueLabelUpdate', input, a);
      const label = st.labels.get(a.id as string);
      if (!label) throw notFound('IssueLabel');
      const next = { ...label };
      if (input.name !== undefined) next.name = checkLabelName(ctx, input.name, label.teamId, label.id);
      if (input.color !== undefined) next.color = checkColor(input.color);
      if (input.description !== undefined) next.description = input.description as string | null;
      if (Object.keys(diff(label, next, ['name', 'color', 'description'])).length > 0) {
        next.updatedAt = st.now();
        Object.assign(label, next);
        st.syncId++;
      }
      return payload(ctx, { issueLabel: labelView(ctx, label) });
    },
    webhookCreate: (a, ctx) => {
      const { st } = ctx;
      requireAdmin(ctx, 'create webhooks');
      const input = a.input as Args;
      onlyFields('webhookCreate', input, [
        'id',
        'url',
        'teamId',
        'allPublicTeams',
        'resourceTypes',
        'label',
        'secret',
        'enabled',
      ]);
      let teamId: string | null = null;
      if (input.teamId != null) {
        const t = st.teams.get(input.teamId as string);
        if (!t) throw notFound('Team');
        teamId = t.id;
      }
      if (!teamId && !input.allPublicTeams)
        throw argumentValidation('Either teamId or allPublicTeams must be provided.');
      let url: URL;
      try {
        url = new URL(input.url as string);
      } catch {
        throw argumentValidation('url must be a URL address.');
      }
      const now = st.now();
      const w: Webhook = {
        id: (input.id as string | undefined) ?? randomUUID(),
        url: url.toString(),
        label: (input.label as string | undefined) ?? null,
        secret: (input.secret as string | undefined) ?? newSecret(),
        teamId,
        allPublicTeams: teamId ? false : Boolean(input.allPublicTeams),
        resourceTypes: input.resourceTypes as string[],
        enabled: input.enabled !== false,
        creatorId: ctx.actor.id,
        createdAt: now,
        updatedAt: now,
      };
      st.webhooks.set(w.id, w);
      st.syncId++;
      return payload(ctx, { webhook: webhookView(ctx, w) });
    },
    webhookDelete: (a, ctx) => {
      requireAdmin(ctx, 'delete webhooks');
      const w = ctx.st.webhooks.get(a.id as string);
      if (!w) throw notFound('Webhook');
      ctx.st.webhooks.delete(w.id);
      ctx.st.syncId++;
      return payload(ctx, { entityId: w.id });
    },
  };
}
