/**
 * Asana → ChangeEvent[] (pure). Asana's webhook events are compact (no field values, no before
 * values), so ingest's expand step (and the poller) re-fetch what they name and hand normalize an
 * ExpandedPayload (model.ts); normalize refuses a raw, non-empty `{events}` body rather than guess.
 *
 * An update carries no before values (Asana does not say them): `before` is null and
 * `changedFields` lists every synced field normalize knows, as Linear's and Jira's normalize do for
 * an update without a changelog; the reconciler compares with what it holds.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type {
  ChangeEvent,
  EntityState,
  Op,
  Person,
  Priority,
  Status,
} from '../../../schemas/generated/types.ts';
import { LockstepError } from '../../core/errors/index.ts';
import { isLockstepNote } from '../kit/notes.ts';
import { deterministicEventId, entityState, type NormalizeContext } from '../types.ts';
import type { AsanaConfig } from './config.ts';
import { markerIn, stripMarker } from './marker.ts';
import { asanaStorySchema, asanaTaskSchema, type AsanaStory, type AsanaTask } from './model.ts';
import { htmlToMarkdown } from './richtext.ts';

export const PLATFORM = 'asana';

/** Fields that describe an entity without being a change people make to it. */
const NOT_CHANGES = new Set(['createdAtMs', 'updatedAtMs', 'url']);

const ms = (iso: string | null | undefined): number | null => {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
};

/** The configured project the task is in (the flow side's workspace), or null: not synced. */
export function projectOf(task: AsanaTask, config: AsanaConfig): string | null {
  for (const m of task.memberships ?? []) {
    const gid = m.project?.gid;
    if (gid && config.projects.includes(gid)) return gid;
  }
  return null;
}

/**
 * The task's status (config.statusFrom), or null when it cannot tell: `sections` with the task in
 * no section of a configured project, or `completed` unknown.
 */
export function statusOf(task: AsanaTask, config: AsanaConfig): Status | null {
  if (config.statusFrom === 'completed') {
    if (task.completed === null || task.completed === undefined) return null;
    return task.completed ? { name: 'Done', category: 'done' } : { name: 'To do', category: 'todo' };
  }
  const section = (task.memberships ?? []).find(
    (m) => m.project && config.projects.includes(m.project.gid) && m.section?.name,
  )?.section?.name;
  if (!section) return null;
  const named = config.statusCategories[section];
  const completed = task.completed === true;
  if (named === undefined) return { name: section, category: completed ? 'done' : 'todo' };
  // A completed task reads as done even where its section says otherwise (completing it in Asana
  // does not move it).
  if (completed && named !== 'done' && named !== 'canceled') return { name: section, category: 'done' };
  return { name: section, category: named };
}

/** The task's tags as labels: their names, sorted, each once (two tags may share a name). */
export function labelsOf(task: AsanaTask): string[] | undefined {
  if (task.tags === undefined) return undefined;
  const names = (task.tags ?? []).map((t) => t.name ?? '').filter((n) => n !== '');
  return [...new Set(names)].sort();
}

/** The configured priority field's entry on the task: by gid, else by name (exact, then any case). */
export function priorityFieldOf(
  fields: readonly { gid: string; name?: string | null }[],
  field: string,
): number {
  if (/^\d+$/.test(field)) return fields.findIndex((f) => f.gid === field);
  const exact = fields.findIndex((f) => f.name === field);
  return exact >= 0 ? exact : fields.findIndex((f) => f.name?.toLowerCase() === field.toLowerCase());
}

/**
 * The task's priority from the configured enum field (config.priority), or undefined (not known):
 * priority not configured, the field not on the task (its project lacks it, or the workspace has
 * no Premium), or an option no priority names. An empty field is `none`.
 */
export function priorityOf(task: AsanaTask, config: AsanaConfig): Priority | undefined {
  const p = config.priority;
  if (!p || !task.custom_fields) return undefined;
  const entry = task.custom_fields[priorityFieldOf(task.custom_fields, p.field)];
  if (!entry || entry.enum_value === undefined) return undefined;
  if (entry.enum_value === null) return 'none';
  const name = entry.enum_value.name ?? '';
  const named = Object.entries(p.options).filter(([, option]) => typeof option === 'string');
  const hit =
    named.find(([, option]) => option === name) ??
    named.find(([, option]) => option!.toLowerCase() === name.toLowerCase());
  return hit?.[0] as Priority | undefined;
}

function assigneeOf(task: AsanaTask): Person | null | undefined {
  if (task.assignee === undefined) return undefined;
  if (task.assignee === null) return null;
  return {
    email: task.assignee.email ?? null,
    platformUserId: task.assignee.gid,
    displayName: task.assignee.name ?? null,
  };
}

/** Markdown of an html body, without Lockstep's create-marker line. */
function markdownOf(html: string | null | undefined): string | undefined {
  if (html === undefined) return undefined;
  return stripMarker(htmlToMarkdown(html ?? ''));
}

/** What Lockstep syncs of a task. Nullish fields Asana left out stay unknown (not in `known`). */
export function taskState(task: AsanaTask, config: AsanaConfig): EntityState {
  const priority = priorityOf(task, config);
  return entityState({
    // Present only when known: `entityState` would keep an explicit undefined in place of null.
    ...(priority !== undefined && { priority }),
    title: task.name ?? undefined,
    description: task.html_notes === null ? '' : markdownOf(task.html_notes),
    status: statusOf(task, config) ?? undefined,
    assignee: assigneeOf(task),
    dueDate: task.due_on === undefined ? undefined : task.due_on,
    labels: labelsOf(task),
    url: task.permalink_url ?? undefined,
    createdAtMs: ms(task.created_at) ?? undefined,
    updatedAtMs: ms(task.modified_at) ?? undefined,
  });
}

/** What Lockstep syncs of a comment story. */
export function storyState(story: AsanaStory): EntityState {
  const html = story.html_text ?? (story.text != null ? null : undefined);
  const by = story.created_by;
  return entityState({
    // Without html_text, the plain text (Asana keeps both) is the body.
    body: html === null ? (story.text ?? '') : markdownOf(html),
    author: by
      ? { email: by.email ?? null, platformUserId: by.gid, displayName: by.name ?? null }
      : undefined,
    createdAtMs: ms(story.created_at) ?? undefined,
  });
}

const expandedSchema = z.object({
  lockstepExpanded: z.literal(1),
  tasks: z.array(z.unknown()).default([]),
  stories: z.array(z.unknown()).default([]),
  deletedTasks: z.array(z.string().min(1)).default([]),
  deletedStories: z.array(z.object({ gid: z.string().min(1), taskGid: z.string().nullish() })).default([]),
  created: z.array(z.string()).default([]),
  editedStories: z.array(z.string()).default([]),
  actors: z.record(z.string(), z.string().nullable()).default({}),
});
const rawSchema = z.object({ events: z.array(z.unknown()) });

function invalid(what: string, err: z.ZodError | string): LockstepError {
  const detail =
    typeof err === 'string'
      ? err
      : err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  return new LockstepError(`normalizing asana ${what}`, { category: 'validation', cause: detail });
}

interface Common {
  ctx: NormalizeContext<AsanaConfig>;
  actors: Record<string, string | null>;
  botUserId: string | null;
}

function event(
  c: Common,
  e: {
    op: Op;
    entityType: 'issue' | 'comment';
    entityId: string;
    parentId: string | null;
    workspace: string;
    after: EntityState | null;
    changedFields: string[];
    version: string | null;
    idVersion: string;
    tsMs: number;
    marker: string | null;
  },
): ChangeEvent {
  const actorGid = c.actors[e.entityId] ?? null;
  const actor: Person | null = actorGid ? { email: null, platformUserId: actorGid, displayName: null } : null;
  return {
    eventId: deterministicEventId({
      platform: PLATFORM,
      entityType: e.entityType,
      entityId: e.entityId,
      version: e.idVersion,
      deleted: e.op === 'd',
    }),
    op: e.op,
    before: null,
    after: e.after,
    source: {
      platform: PLATFORM,
      workspace: e.workspace,
      entityType: e.entityType,
      entityId: e.entityId,
      entityKey: null,
      parentId: e.parentId,
      via: c.ctx.via,
      deliveryId: c.ctx.deliveryId,
      actor,
      actorIsLockstep: actorGid !== null && c.botUserId !== null && actorGid === c.botUserId,
      marker: e.marker,
      version: e.version,
      tsMs: e.tsMs,
    },
    changedFields: e.changedFields,
    tsMs: c.ctx.nowMs,
  };
}

/**
 * A task's version for its eventId: modified_at, plus a hash of its tag names. The spec does not
 * count a tag added or removed among the changes that move modified_at, so without the hash a
 * change of tags alone would get the id of the task's previous event and be dropped as a repeat.
 */
function taskIdVersion(task: AsanaTask): string {
  const labels = labelsOf(task);
  const tags = labels ? `#${createHash('sha256').update(labels.join('\n')).digest('hex').slice(0, 16)}` : '';
  return `${task.modified_at ?? ''}${tags}`;
}

/** A story's version for its eventId: created_at plus a hash of its text, so an edit gets a new id. */
function storyIdVersion(story: AsanaStory): string {
  const text = story.html_text ?? story.text ?? '';
  return `${story.created_at ?? ''}#${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

/**
 * An ExpandedPayload → one event per task in a configured project, per comment story on such a
 * task, per deleted task and story. A raw webhook body: `{"events":[]}` (Asana's heartbeat) → [];
 * a non-empty one → LockstepError('validation'): it must be expanded first.
 */
export function normalizeAsana(payload: unknown, ctx: NormalizeContext<AsanaConfig>): ChangeEvent[] {
  if (typeof payload === 'object' && payload !== null && !('lockstepExpanded' in payload)) {
    const raw = rawSchema.safeParse(payload);
    if (raw.success) {
      if (raw.data.events.length === 0) return [];
      throw invalid(
        'webhook body',
        `${raw.data.events.length} compact event(s) must be expanded first (ingest's expand step re-fetches what they name)`,
      );
    }
  }
  const p = expandedSchema.safeParse(payload);
  if (!p.success) throw invalid('expanded payload', p.error);
  const d = p.data;
  const c: Common = { ctx, actors: d.actors, botUserId: ctx.config.botUserId ?? ctx.botUserId };
  const config = ctx.config;
  const created = new Set(d.created);
  const edited = new Set(d.editedStories);
  const nowMs = ctx.nowMs;

  const tasks = d.tasks.map((raw, i) => {
    const t = asanaTaskSchema.safeParse(raw);
    if (!t.success) throw invalid(`task ${i}`, t.error);
    return t.data;
  });
  const byGid = new Map(tasks.map((t) => [t.gid, t]));
  // A story's or deleted record's project: its task's; with one configured project, that one.
  const only = config.projects.length === 1 ? config.projects[0]! : null;
  const workspaceOfTask = (gid: string | null | undefined): string | null => {
    const task = gid ? byGid.get(gid) : undefined;
    return task ? projectOf(task, config) : only;
  };

  const events: ChangeEvent[] = [];
  for (const task of tasks) {
    const workspace = projectOf(task, config);
    if (workspace === null) continue; // in none of the configured projects: not synced
    const after = taskState(task, config);
    const isNew = created.has(task.gid) || (!!task.created_at && task.created_at === task.modified_at);
    events.push(
      event(c, {
        op: isNew ? 'c' : 'u',
        entityType: 'issue',
        entityId: task.gid,
        parentId: null,
        workspace,
        after,
        changedFields: after.known.filter((k) => !NOT_CHANGES.has(k)),
        version: task.modified_at ?? null,
        idVersion: taskIdVersion(task),
        tsMs: ms(task.modified_at) ?? ms(task.created_at) ?? nowMs,
        marker: markerIn(task.html_notes),
      }),
    );
  }

  d.stories.forEach((raw, i) => {
    const s = asanaStorySchema.safeParse(raw);
    if (!s.success) throw invalid(`story ${i}`, s.error);
    const story = s.data;
    if (story.type !== 'comment') return; // system stories describe task changes; only comments sync
    const text = story.html_text ?? story.text;
    // Lockstep's own note on an item (egress/notes.ts, kit/notes.ts): never a change to mirror.
    if (isLockstepNote(text, story.created_by?.gid, c.botUserId)) return;
    const taskGid = story.target?.gid ?? null;
    const workspace = taskGid ? workspaceOfTask(taskGid) : only;
    if (workspace === null) return;
    const after = storyState(story);
    events.push(
      event(c, {
        op: edited.has(story.gid) ? 'u' : 'c',
        entityType: 'comment',
        entityId: story.gid,
        parentId: taskGid,
        workspace,
        after,
        changedFields: after.known.includes('body') ? ['body'] : [],
        // Stories have no modified_at: created_at is Asana's only version (apply reports the same).
        version: story.created_at ?? null,
        idVersion: storyIdVersion(story),
        tsMs: ms(story.created_at) ?? nowMs,
        marker: markerIn(story.html_text ?? story.text),
      }),
    );
  });

  for (const gid of d.deletedTasks) {
    const workspace = only;
    if (workspace === null) continue; // a deleted task cannot be read back to tell its project
    events.push(deleted(c, 'issue', gid, null, workspace, nowMs));
  }
  for (const { gid, taskGid } of d.deletedStories) {
    const workspace = workspaceOfTask(taskGid);
    if (workspace === null) continue;
    events.push(deleted(c, 'comment', gid, taskGid ?? null, workspace, nowMs));
  }
  return events;
}

function deleted(
  c: Common,
  entityType: 'issue' | 'comment',
  gid: string,
  parentId: string | null,
  workspace: string,
  nowMs: number,
): ChangeEvent {
  // A deletion has no version of its own; the eventId's `deleted` flag tells it apart.
  return event(c, {
    op: 'd',
    entityType,
    entityId: gid,
    parentId,
    workspace,
    after: null,
    changedFields: [],
    version: null,
    idVersion: '',
    tsMs: nowMs,
    marker: null,
  });
}
