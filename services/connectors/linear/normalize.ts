/**
 * Linear webhook payload → ChangeEvent[] (pure). The same shape functions serve the poller, which
 * reshapes its GraphQL nodes into the webhook's `data` shape first, so both paths agree field by field.
 */
import { z } from 'zod';
import type {
  ChangeEvent,
  EntityState,
  Op,
  Person,
  Priority,
  StatusCategory,
  Via,
} from '../../../schemas/generated/types.ts';
import { LockstepError } from '../../core/errors/index.ts';
import { isLockstepNote } from '../kit/notes.ts';
import { deterministicEventId, entityState, type NormalizeContext } from '../types.ts';
import type { LinearConfig } from './config.ts';

export const PLATFORM = 'linear';

/** WorkflowState.type → canonical category. `duplicate` is in the schema; it is a way of canceling. */
export const STATE_TYPE_TO_CATEGORY: Record<string, StatusCategory> = {
  triage: 'backlog',
  backlog: 'backlog',
  unstarted: 'todo',
  started: 'in_progress',
  completed: 'done',
  canceled: 'canceled',
  duplicate: 'canceled',
};

/** Linear priority numbers (0 none, 1 urgent … 4 low). */
export const PRIORITY_FROM_LINEAR: Record<number, Priority> = {
  0: 'none',
  1: 'urgent',
  2: 'high',
  3: 'medium',
  4: 'low',
};
export const PRIORITY_TO_LINEAR: Record<Priority, number> = {
  none: 0,
  urgent: 1,
  high: 2,
  medium: 3,
  low: 4,
};

const user = z.object({ id: z.string(), name: z.string().nullish(), email: z.string().nullish() });
const iso = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 date-time');

/** `data` of an Issue webhook (and of a poll node after reshaping). Unlisted fields are ignored. */
/**
 * Issues Lockstep creates get an attachment `lockstep://link/<link id>` (apply.ts), the create
 * marker. Polls read it (`attachments` on Issue), so an observation of our create carries it
 * (Source.marker); webhooks carry no attachments, but their actor tells our writes.
 */
export const MARKER_URL_PREFIX = 'lockstep://link/';
export const markerUrl = (marker: string): string => `${MARKER_URL_PREFIX}${encodeURIComponent(marker)}`;

/** The create marker among an issue's attachment urls, or null. */
export function markerOf(attachments: readonly { url: string }[] | null | undefined): string | null {
  const hit = attachments?.find((a) => a.url.startsWith(MARKER_URL_PREFIX));
  if (!hit) return null;
  try {
    return decodeURIComponent(hit.url.slice(MARKER_URL_PREFIX.length)) || null;
  } catch {
    return null; // not one of ours: a malformed escape
  }
}

export const linearIssueData = z.object({
  id: z.string(),
  identifier: z.string().nullish(),
  title: z.string(),
  description: z.string().nullish(),
  priority: z.number().int().min(0).max(4).nullish(),
  state: z.object({ id: z.string(), name: z.string(), type: z.string() }).nullish(),
  assigneeId: z.string().nullish(),
  assignee: user.nullish(),
  labelIds: z.array(z.string()).nullish(),
  labels: z.array(z.object({ id: z.string(), name: z.string() })).nullish(),
  dueDate: z.string().nullish(),
  url: z.string().nullish(),
  teamId: z.string().nullish(),
  team: z.object({ id: z.string(), key: z.string().nullish() }).nullish(),
  createdAt: iso,
  updatedAt: iso,
  archivedAt: iso.nullish(),
  /** Polls only (webhook payloads carry no attachments). */
  attachments: z.array(z.object({ url: z.string() })).nullish(),
});
export type LinearIssueData = z.infer<typeof linearIssueData>;

export const linearCommentData = z.object({
  id: z.string(),
  body: z.string(),
  issueId: z.string(),
  issue: z
    .object({
      id: z.string(),
      identifier: z.string().nullish(),
      teamId: z.string().nullish(),
      team: z.object({ id: z.string(), key: z.string().nullish() }).nullish(),
    })
    .nullish(),
  userId: z.string().nullish(),
  user: user.nullish(),
  url: z.string().nullish(),
  createdAt: iso,
  updatedAt: iso,
  archivedAt: iso.nullish(),
});
export type LinearCommentData = z.infer<typeof linearCommentData>;

const webhookPayload = z.object({
  action: z.string(),
  type: z.string(),
  data: z.unknown(),
  updatedFrom: z.record(z.string(), z.unknown()).nullish(),
  actor: z.object({ id: z.string(), name: z.string().nullish(), email: z.string().nullish() }).nullish(),
  organizationId: z.string().nullish(),
  webhookTimestamp: z.number().nullish(),
  createdAt: iso.nullish(),
});

const ACTION_TO_OP: Record<string, Op> = { create: 'c', update: 'u', remove: 'd' };

export function person(
  u: { id: string; name?: string | null; email?: string | null } | null | undefined,
): Person | null {
  if (!u) return null;
  return { email: u.email ?? null, platformUserId: u.id, displayName: u.name ?? null };
}

function priority(p: number | null | undefined): Priority | undefined {
  return p === null || p === undefined ? undefined : PRIORITY_FROM_LINEAR[p];
}

export function issueState(d: LinearIssueData): EntityState {
  const assignee =
    d.assignee !== undefined
      ? person(d.assignee)
      : d.assigneeId !== undefined
        ? d.assigneeId === null
          ? null
          : { email: null, platformUserId: d.assigneeId, displayName: null }
        : undefined;
  return entityState({
    title: d.title,
    description: d.description === undefined ? undefined : (d.description ?? ''),
    status: d.state
      ? { category: STATE_TYPE_TO_CATEGORY[d.state.type] ?? 'todo', name: d.state.name }
      : undefined,
    priority: priority(d.priority),
    assignee,
    labels: d.labels ? d.labels.map((l) => l.name).sort() : undefined,
    dueDate: d.dueDate === undefined ? undefined : d.dueDate,
    url: d.url ?? undefined,
    createdAtMs: Date.parse(d.createdAt),
    updatedAtMs: Date.parse(d.updatedAt),
  });
}

export function commentState(d: LinearCommentData): EntityState {
  return entityState({
    body: d.body,
    author: d.user
      ? person(d.user)
      : d.userId
        ? { email: null, platformUserId: d.userId, displayName: null }
        : undefined,
    url: d.url ?? undefined,
    createdAtMs: Date.parse(d.createdAt),
    updatedAtMs: Date.parse(d.updatedAt),
  });
}

/**
 * `updatedFrom` → the `before` state, holding only what Linear told us. Relations come as ids
 * (stateId, assigneeId, labelIds): a previous state or assignee is only an id, so status is
 * reported as changed without a before value, an assignee as a Person with only the platform id,
 * and labels by name when every old id is still among the issue's labels.
 */
function issueBefore(
  d: LinearIssueData,
  from: Record<string, unknown>,
): { before: EntityState; changed: string[] } {
  const v: Partial<Omit<EntityState, 'known'>> = {};
  const changed = new Set<string>();
  if ('title' in from) {
    changed.add('title');
    if (typeof from.title === 'string') v.title = from.title;
  }
  if ('description' in from) {
    changed.add('description');
    v.description = typeof from.description === 'string' ? from.description : '';
  }
  if ('priority' in from) {
    changed.add('priority');
    if (typeof from.priority === 'number') v.priority = priority(from.priority);
  }
  if ('dueDate' in from) {
    changed.add('dueDate');
    v.dueDate = typeof from.dueDate === 'string' ? from.dueDate : null;
  }
  if ('stateId' in from) changed.add('status');
  if ('assigneeId' in from) {
    changed.add('assignee');
    v.assignee =
      typeof from.assigneeId === 'string'
        ? { email: null, platformUserId: from.assigneeId, displayName: null }
        : null;
  }
  if ('labelIds' in from) {
    changed.add('labels');
    const old = Array.isArray(from.labelIds) ? from.labelIds.filter((x) => typeof x === 'string') : [];
    const names = new Map((d.labels ?? []).map((l) => [l.id, l.name]));
    if (old.every((id) => names.has(id))) v.labels = old.map((id) => names.get(id)!).sort();
  }
  if (typeof from.updatedAt === 'string' && !Number.isNaN(Date.parse(from.updatedAt))) {
    v.updatedAtMs = Date.parse(from.updatedAt);
  }
  return { before: entityState(v), changed: [...changed] };
}

function commentBefore(from: Record<string, unknown>): { before: EntityState; changed: string[] } {
  if (!('body' in from)) return { before: entityState({}), changed: [] };
  return { before: entityState(typeof from.body === 'string' ? { body: from.body } : {}), changed: ['body'] };
}

export interface LinearSourceExtras {
  via: Via;
  deliveryId: string | null;
  actor: Person | null;
  botUserId: string | null;
  nowMs: number;
  /** Used when the payload names no team (a comment whose `issue` lacks teamId). */
  fallbackWorkspace: string;
}

function build(
  op: Op,
  entityType: 'issue' | 'comment',
  d: { id: string; updatedAt: string; archivedAt?: string | null },
  key: string | null,
  parentId: string | null,
  workspace: string,
  after: EntityState | null,
  before: EntityState | null,
  changedFields: string[],
  x: LinearSourceExtras,
  marker: string | null,
): ChangeEvent {
  const version = d.updatedAt;
  const tsMs = Date.parse(op === 'd' && d.archivedAt ? d.archivedAt : d.updatedAt);
  return {
    eventId: deterministicEventId({
      platform: PLATFORM,
      entityType,
      entityId: d.id,
      version,
      deleted: op === 'd',
    }),
    op,
    before,
    after,
    source: {
      platform: PLATFORM,
      workspace,
      entityType,
      entityId: d.id,
      entityKey: key,
      parentId,
      via: x.via,
      deliveryId: x.deliveryId,
      actor: x.actor,
      actorIsLockstep: x.actor !== null && x.botUserId !== null && x.actor.platformUserId === x.botUserId,
      marker,
      version,
      tsMs,
    },
    changedFields,
    tsMs: x.nowMs,
  };
}

export function issueEvent(
  op: Op,
  d: LinearIssueData,
  updatedFrom: Record<string, unknown> | null,
  x: LinearSourceExtras,
): ChangeEvent | null {
  const after = issueState(d);
  let before: EntityState | null = null;
  let changed = after.known.filter((k) => k !== 'createdAtMs' && k !== 'updatedAtMs' && k !== 'url');
  if (op === 'u' && updatedFrom) {
    const b = issueBefore(d, updatedFrom);
    // An update that touched nothing we sync (sort order, cycle, …) is not a change for Lockstep.
    if (b.changed.length === 0) return null;
    before = b.before;
    changed = b.changed;
  }
  // Flows name a team by its key (ENG), so the key is the workspace; the identifier (ENG-12)
  // carries it when the payload has no team object.
  const workspace = d.team?.key ?? teamKeyOf(d.identifier) ?? d.teamId ?? d.team?.id ?? x.fallbackWorkspace;
  return build(
    op,
    'issue',
    d,
    d.identifier ?? null,
    null,
    workspace,
    op === 'd' ? null : after,
    before,
    changed,
    x,
    markerOf(d.attachments),
  );
}

export function commentEvent(
  op: Op,
  d: LinearCommentData,
  updatedFrom: Record<string, unknown> | null,
  x: LinearSourceExtras,
): ChangeEvent | null {
  // Lockstep's own note on an item (egress/notes.ts, kit/notes.ts): never a change to mirror.
  if (isLockstepNote(d.body, d.user?.id ?? d.userId, x.botUserId)) return null;
  const after = commentState(d);
  let before: EntityState | null = null;
  let changed = ['body'];
  if (op === 'u' && updatedFrom) {
    const b = commentBefore(updatedFrom);
    if (b.changed.length === 0) return null;
    before = b.before;
    changed = b.changed;
  }
  const workspace =
    d.issue?.team?.key ??
    teamKeyOf(d.issue?.identifier) ??
    d.issue?.teamId ??
    d.issue?.team?.id ??
    x.fallbackWorkspace;
  // Comments carry no marker (their id is derived from it, apply.ts); their author tells ours.
  return build(
    op,
    'comment',
    d,
    null,
    d.issueId,
    workspace,
    op === 'd' ? null : after,
    before,
    changed,
    x,
    null,
  );
}

function teamKeyOf(identifier: string | null | undefined): string | null {
  const m = identifier ? /^([A-Z0-9]+)-\d+$/.exec(identifier) : null;
  return m?.[1] ?? null;
}

function invalid(what: string, err: z.ZodError): LockstepError {
  const detail = err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  return new LockstepError(`normalizing linear ${what}`, { category: 'validation', cause: detail });
}

/**
 * Issue and Comment webhooks → events; other resource types (labels, reactions, projects …) and
 * actions other than create/update/remove yield [].
 */
export function normalizeLinear(payload: unknown, ctx: NormalizeContext<LinearConfig>): ChangeEvent[] {
  const p = webhookPayload.safeParse(payload);
  if (!p.success) throw invalid('webhook payload', p.error);
  const op = ACTION_TO_OP[p.data.action];
  if (!op || (p.data.type !== 'Issue' && p.data.type !== 'Comment')) return [];
  const x: LinearSourceExtras = {
    via: ctx.via,
    deliveryId: ctx.deliveryId,
    actor: p.data.actor ? person(p.data.actor) : null,
    botUserId: ctx.config.botUserId ?? ctx.botUserId,
    nowMs: ctx.nowMs,
    fallbackWorkspace: p.data.organizationId ? `org:${p.data.organizationId}` : 'unknown',
  };
  const from = p.data.updatedFrom ?? null;
  if (p.data.type === 'Issue') {
    const d = linearIssueData.safeParse(p.data.data);
    if (!d.success) throw invalid('Issue data', d.error);
    const e = issueEvent(op, d.data, from, x);
    return e ? [e] : [];
  }
  const d = linearCommentData.safeParse(p.data.data);
  if (!d.success) throw invalid('Comment data', d.error);
  const e = commentEvent(op, d.data, from, x);
  return e ? [e] : [];
}
