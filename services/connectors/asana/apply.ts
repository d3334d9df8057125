/**
 * WriteCommand → the asana SDK (client.ts). A flow side's workspace is a project gid; an issue is a
 * task, a comment is a comment story on the task named by `parentId`.
 *
 * Create markers: Asana's `external` field needs an OAuth app, so the marker is the last line of
 * the html body Lockstep writes (`lockstep-link:…`, marker.ts). A create looks for it first, so a
 * create whose answer was lost is found instead of made twice: tasks of the project modified since
 * the command (a task's modified_at is never older than its creation), or the task's stories.
 *
 * Status (config.statusFrom): `sections` moves the task to the project's section named by the
 * status (POST /sections/{gid}/addTask, which also takes it out of the project's other sections)
 * and completes it for a done or canceled category; `completed` only sets the completed flag.
 * People are found by email through GET /users/{email} (Asana accepts "me", a gid or an email
 * there), checked before the write so an unknown person costs one field, not the write.
 */
import { z } from 'zod';
import type { EntityState, Person, Priority, WriteCommand } from '../../../schemas/generated/types.ts';
import { LockstepError } from '../../core/errors/index.ts';
import { noteCreateMarker } from '../kit/notes.ts';
import {
  fieldsToWrite,
  staleFields,
  type Applier,
  type ApplyResult,
  type ConnectorDeps,
  type FoundTarget,
  type ItemNote,
  type MarkerQuery,
  type PostedNote,
  type SkippedField,
} from '../types.ts';
import { asanaApis } from './client.ts';
import type { AsanaConfig } from './config.ts';
import { asanaStatus, classifyAsanaError, describeAsanaError } from './errors.ts';
import { markerIn, withMarkerLine } from './marker.ts';
import {
  asanaStorySchema,
  asanaTaskSchema,
  STORY_FIELDS,
  taskFields,
  type AsanaStory,
  type AsanaTask,
} from './model.ts';
import { priorityFieldOf, storyState, taskState } from './normalize.ts';
import { noteHtml } from './notes.ts';
import { markdownToHtml } from './richtext.ts';

/** Asana's clock may differ from the reconciler's that stamped the command: look this much earlier. */
const CLOCK_SKEW_MS = 10 * 60_000;
/** Asana's largest page. */
const PAGE = 100;

const one = <T extends z.ZodType>(schema: T) => z.object({ data: schema });
const sectionItem = z.object({ gid: z.string(), name: z.string().nullish() });
type Section = z.output<typeof sectionItem>;
const markedTask = z.object({ gid: z.string(), html_notes: z.string().nullish() });
const enumField = z.object({
  gid: z.string(),
  name: z.string().nullish(),
  resource_subtype: z.string().nullish(),
  enum_options: z
    .array(z.object({ gid: z.string(), name: z.string().nullish(), enabled: z.boolean().nullish() }))
    .nullish(),
});
type EnumField = z.output<typeof enumField>;
const fieldSetting = z.object({ custom_field: enumField });
const FIELD_SETTING_FIELDS = [
  'custom_field.gid',
  'custom_field.name',
  'custom_field.resource_subtype',
  'custom_field.enum_options.gid',
  'custom_field.enum_options.name',
  'custom_field.enum_options.enabled',
].join(',');
const markedStory = z.object({
  gid: z.string(),
  type: z.string().nullish(),
  html_text: z.string().nullish(),
});

/** The SDK's list calls resolve to a Collection: one page in `data`, the next through `nextPage()`. */
interface Page {
  data: unknown[] | null;
  nextPage?: () => Promise<Page>;
}

/** Every item of a paginated list call, page after page (Asana's `next_page.offset`). */
export async function* allItems(first: Promise<Page>): AsyncGenerator<unknown> {
  for (let page: Page | null = await first; page?.data;) {
    yield* page.data;
    page = page.data.length > 0 && page.nextPage ? await page.nextPage() : null;
  }
}

const isDone = (status: EntityState['status']): boolean =>
  status?.category === 'done' || status?.category === 'canceled';

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export function createAsanaApplier(deps: ConnectorDeps<AsanaConfig>): Applier {
  const cfg = deps.config;
  const api = asanaApis(cfg, deps.budget);

  async function readTask(gid: string): Promise<AsanaTask> {
    return one(asanaTaskSchema).parse(await api.tasks.getTask(gid, { opt_fields: taskFields(cfg) })).data;
  }
  async function readStory(gid: string): Promise<AsanaStory> {
    return one(asanaStorySchema).parse(await api.stories.getStory(gid, { opt_fields: STORY_FIELDS })).data;
  }

  function taskResult(
    t: AsanaTask,
    skipped: SkippedField[],
    alreadyApplied: boolean,
    before: EntityState | null = null,
  ): ApplyResult {
    const version = t.modified_at ?? null;
    return {
      before,
      targetId: t.gid,
      targetKey: null,
      written: taskState(t, cfg),
      platformVersion: version,
      platformTsMs: version ? Date.parse(version) : null,
      alreadyApplied,
      skipped,
    };
  }

  function storyResult(
    s: AsanaStory,
    skipped: SkippedField[],
    alreadyApplied: boolean,
    before: EntityState | null = null,
  ): ApplyResult {
    // Stories have no modified_at: created_at is the version Asana gives (normalize adds a text hash).
    const version = s.created_at ?? null;
    return {
      before,
      targetId: s.gid,
      targetKey: null,
      written: storyState(s),
      platformVersion: version,
      platformTsMs: version ? Date.parse(version) : null,
      alreadyApplied,
      skipped,
    };
  }

  const gone = (targetId: string): ApplyResult => ({
    targetId,
    targetKey: null,
    written: null,
    platformVersion: null,
    platformTsMs: null,
    alreadyApplied: false,
    skipped: [],
  });

  /** A delete of a record Asana no longer has (a repeat, or deleted by a person) is done. */
  async function deleted(targetId: string, call: () => Promise<unknown>): Promise<ApplyResult> {
    try {
      await call();
    } catch (err) {
      if (classifyAsanaError(err).category !== 'not_found') throw err;
    }
    return gone(targetId);
  }

  /** Sections per project, read once per applier (they change rarely; a miss re-reads). */
  const sections = new Map<string, Section[]>();
  async function sectionNamed(project: string, name: string): Promise<string | null> {
    const find = (list: Section[]) =>
      (list.find((s) => s.name === name) ?? list.find((s) => s.name?.toLowerCase() === name.toLowerCase()))
        ?.gid ?? null;
    const cached = sections.get(project);
    const hit = cached ? find(cached) : null;
    if (hit) return hit;
    const list: Section[] = [];
    for await (const s of allItems(
      api.sections.getSectionsForProject(project, { limit: PAGE, opt_fields: 'name' }),
    ))
      list.push(sectionItem.parse(s));
    sections.set(project, list);
    return find(list);
  }

  /** A project's workspace (tags live in a workspace, not a project), read once per project. */
  const workspaces = new Map<string, string>();
  async function workspaceOf(project: string): Promise<string> {
    const known = workspaces.get(project);
    if (known) return known;
    const p = one(z.object({ workspace: z.object({ gid: z.string() }) })).parse(
      await api.projects.getProject(project, { opt_fields: 'workspace.gid' }),
    );
    workspaces.set(project, p.data.workspace.gid);
    return p.data.workspace.gid;
  }

  /** Tag name → gid per workspace, listed once per applier (a miss lists again, then creates). */
  const tagGids = new Map<string, Map<string, string>>();
  async function listTags(workspace: string): Promise<Map<string, string>> {
    const byName = new Map<string, string>();
    for await (const item of allItems(
      api.tags.getTagsForWorkspace(workspace, { limit: PAGE, opt_fields: 'name' }),
    )) {
      const t = sectionItem.parse(item);
      // Asana lets two tags share a name: the first listed is the one used.
      if (t.name && !byName.has(t.name)) byName.set(t.name, t.gid);
    }
    tagGids.set(workspace, byName);
    return byName;
  }

  /**
   * The gid of the workspace's tag named exactly `name` (a tag is a label by its exact name, so
   * what is written reads back the same), created there when none is.
   */
  async function tagNamed(workspace: string, name: string): Promise<string> {
    const hit = tagGids.get(workspace)?.get(name) ?? (await listTags(workspace)).get(name);
    if (hit) return hit;
    const created = one(z.object({ gid: z.string() })).parse(
      await api.tags.createTagForWorkspace({ data: { name } }, workspace, { opt_fields: 'name' }),
    ).data.gid;
    tagGids.get(workspace)!.set(name, created);
    return created;
  }

  /**
   * The task's tags made the command's labels, as a set difference: addTag for each label the task
   * lacks, removeTag for each tag no label names. Tags are not writable through PUT /tasks.
   */
  async function writeLabels(project: string, task: AsanaTask, labels: string[]): Promise<void> {
    const want = new Set(labels);
    const held = task.tags ?? [];
    const heldNames = new Set(held.map((t) => t.name));
    const missing = [...want].filter((name) => !heldNames.has(name));
    const workspace = missing.length ? await workspaceOf(project) : null;
    for (const name of missing)
      await api.tasks.addTagForTask({ data: { tag: await tagNamed(workspace!, name) } }, task.gid);
    for (const t of held)
      if (!want.has(t.name ?? '')) await api.tasks.removeTagForTask({ data: { tag: t.gid } }, task.gid);
  }

  /** The user gid to assign: the command's gid (a `people:` override) when Asana knows it, else the email's. */
  async function assigneeGid(p: Person): Promise<{ gid: string } | { detail: string }> {
    const ref = p.platformUserId ?? p.email;
    if (!ref) return { detail: 'no email to look up in Asana and no Asana user gid given' };
    try {
      const u = one(z.object({ gid: z.string() })).parse(
        await api.users.getUser(ref, { opt_fields: 'email' }),
      );
      return { gid: u.data.gid };
    } catch (err) {
      if (classifyAsanaError(err).category !== 'not_found') throw err;
      return {
        detail: p.platformUserId
          ? `no Asana user ${p.platformUserId} (given by people)`
          : `no Asana user with email ${p.email}; add a people override with their Asana user gid`,
      };
    }
  }

  /**
   * How the command's status is held in `project`: the section to move to (statusFrom
   * `sections`) and the completed flag, or why it cannot be.
   */
  async function statusTarget(
    project: string,
    status: NonNullable<EntityState['status']>,
  ): Promise<{ section: string | null; completed: boolean } | SkippedField> {
    if (cfg.statusFrom === 'completed') return { section: null, completed: isDone(status) };
    const section = await sectionNamed(project, status.name);
    if (section) return { section, completed: isDone(status) };
    return {
      field: 'status',
      reason: 'unresolvable',
      detail: `project ${project} has no section named "${status.name}" (statusFrom: sections); add the section in Asana or map the status to an existing section's name`,
    };
  }

  /**
   * The configured priority field as `project` holds it (its custom field settings), read once per
   * applier; a miss (no such field, no such option) reads again, as people change fields.
   */
  const priorityFields = new Map<string, EnumField | null>();
  async function readPriorityField(project: string, field: string): Promise<EnumField | null> {
    const list: EnumField[] = [];
    for await (const item of allItems(
      api.customFieldSettings.getCustomFieldSettingsForProject(project, {
        limit: PAGE,
        opt_fields: FIELD_SETTING_FIELDS,
      }),
    ))
      list.push(fieldSetting.parse(item).custom_field);
    const found = list[priorityFieldOf(list, field)] ?? null;
    priorityFields.set(project, found);
    return found;
  }

  /** The custom_fields value that holds `priority` in `project`, or why it cannot be written. */
  async function priorityValue(
    project: string,
    priority: Priority | null,
  ): Promise<{ field: string; option: string | null } | SkippedField> {
    const skip = (detail: string): SkippedField => ({ field: 'priority', reason: 'unresolvable', detail });
    const p = cfg.priority!;
    const want = priority ?? 'none';
    // `none` not named: the field left empty, as with `none: null`.
    const name = want === 'none' ? (p.options.none ?? null) : p.options[want];
    if (name === undefined)
      return skip(`connectors.asana.priority.options names no Asana option for priority ${want}`);
    const optionOf = (f: EnumField) =>
      f.enum_options?.find((o) => o.name === name) ??
      f.enum_options?.find((o) => name !== null && o.name?.toLowerCase() === name.toLowerCase());
    let field = priorityFields.get(project);
    if (!field || (name !== null && !optionOf(field))) {
      try {
        field = await readPriorityField(project, p.field);
      } catch (err) {
        if (asanaStatus(err) !== 402) throw err;
        return skip(
          `Asana answered 402 for project ${project}'s custom fields: custom fields (and so priority) are a Premium feature its workspace does not have; remove connectors.asana.priority or upgrade the workspace`,
        );
      }
    }
    if (!field)
      return skip(
        `project ${project} has no custom field "${p.field}" (connectors.asana.priority.field); add the field to the project in Asana`,
      );
    if (field.resource_subtype && field.resource_subtype !== 'enum')
      return skip(
        `custom field ${field.name ?? field.gid} is a ${field.resource_subtype} field, not an enum`,
      );
    if (name === null) return { field: field.gid, option: null };
    const option = optionOf(field);
    if (!option)
      return skip(
        `custom field ${field.name ?? field.gid} has no option "${name}" (for priority ${want}); add it in Asana or change connectors.asana.priority.options.${want}`,
      );
    if (option.enabled === false)
      return skip(
        `option "${option.name ?? name}" of custom field ${field.name ?? field.gid} is disabled in Asana (for priority ${want}); enable it or name another option in connectors.asana.priority.options.${want}`,
      );
    return { field: field.gid, option: option.gid };
  }

  /**
   * Sends `data` through `call`. A 402 or 403 on a body that sets the priority field (no Premium;
   * a field locked by someone else) sends it again without it, so the other fields still land,
   * and reports priority as unresolvable. Null: the refused priority was all there was to write.
   */
  async function withoutRefusedPriority<T>(
    data: Record<string, unknown>,
    skipped: SkippedField[],
    call: (data: Record<string, unknown>) => Promise<T>,
  ): Promise<T | null> {
    try {
      return await call(data);
    } catch (err) {
      const status = asanaStatus(err);
      if (!('custom_fields' in data) || (status !== 402 && status !== 403)) throw err;
      const { custom_fields: _refused, ...rest } = data;
      skipped.push({
        field: 'priority',
        reason: 'unresolvable',
        detail:
          status === 402
            ? `Asana refused the priority field as a Premium feature the workspace does not have: ${describeAsanaError(err)}`
            : `Asana refused to write the priority field (locked by another user, or not editable with this token): ${describeAsanaError(err)}`,
      });
      const others = Object.keys(rest).filter((k) => k !== 'projects');
      return others.length > 0 ? await call(rest) : null;
    }
  }

  /** EntityState fields → the task's `data` body, the section to move to, and what cannot be written. */
  async function taskBody(project: string, f: EntityState, write: string[], marker: string | null) {
    const data: Record<string, unknown> = {};
    const skipped: SkippedField[] = [];
    let section: string | null = null;
    let labels: string[] | null = null;
    for (const field of write) {
      switch (field) {
        case 'title':
          data.name = f.title ?? '';
          break;
        case 'description': {
          const html = markdownToHtml(f.description ?? '');
          data.html_notes = marker ? withMarkerLine(html, marker) : html;
          break;
        }
        case 'dueDate':
          data.due_on = f.dueDate;
          break;
        case 'assignee': {
          if (f.assignee === null) {
            data.assignee = null;
            break;
          }
          const user = await assigneeGid(f.assignee);
          if ('gid' in user) data.assignee = user.gid;
          else skipped.push({ field, reason: 'unresolvable', detail: user.detail });
          break;
        }
        case 'status': {
          if (!f.status) break;
          const target = await statusTarget(project, f.status);
          if ('reason' in target) skipped.push(target);
          else {
            data.completed = target.completed;
            section = target.section;
          }
          break;
        }
        case 'labels':
          // Written after the task's other fields: by `tags` on a create, else addTag/removeTag.
          labels = [...new Set(f.labels ?? [])];
          break;
        case 'priority': {
          // Without connectors.asana.priority, priority is not part of the Asana side.
          if (!cfg.priority) break;
          const value = await priorityValue(project, f.priority);
          if ('reason' in value) skipped.push(value);
          else data.custom_fields = { [value.field]: value.option };
          break;
        }
        default:
          // url and timestamps are Asana's.
          break;
      }
    }
    return { data, section, labels, skipped };
  }

  async function moveToSection(section: string, task: string): Promise<void> {
    await api.sections.addTaskForSection(section, { body: { data: { task } } });
  }

  const inSection = (t: AsanaTask, section: string): boolean =>
    (t.memberships ?? []).some((m) => m.section?.gid === section);

  async function findTaskByMarker(q: MarkerQuery): Promise<FoundTarget | null> {
    const projects = q.workspace ? [q.workspace] : cfg.projects;
    // Without the command's time the whole project is searched: a duplicate costs more than a long read.
    const since =
      q.createdAfterMs != null
        ? { modified_since: new Date(Math.max(0, q.createdAfterMs - CLOCK_SKEW_MS)).toISOString() }
        : {};
    for (const project of projects) {
      for await (const item of allItems(
        api.tasks.getTasks({ project, ...since, limit: PAGE, opt_fields: 'html_notes' }),
      )) {
        const t = markedTask.parse(item);
        if (markerIn(t.html_notes) === q.marker) return { targetId: t.gid, targetKey: null };
      }
    }
    return null;
  }

  async function findStoryByMarker(parentId: string, marker: string): Promise<FoundTarget | null> {
    for await (const item of allItems(
      api.stories.getStoriesForTask(parentId, { limit: PAGE, opt_fields: 'type,html_text' }),
    )) {
      const s = markedStory.parse(item);
      if (s.type === 'comment' && markerIn(s.html_text) === marker)
        return { targetId: s.gid, targetKey: null };
    }
    return null;
  }

  async function findByMarker(q: MarkerQuery): Promise<FoundTarget | null> {
    if (q.entityType === 'issue') return findTaskByMarker(q);
    if (q.entityType === 'comment' && q.parentId) return findStoryByMarker(q.parentId, q.marker);
    return null;
  }

  async function createTask(cmd: WriteCommand, marker: string): Promise<ApplyResult> {
    const project = cmd.workspace;
    const found = await findByMarker({
      marker,
      entityType: 'issue',
      parentId: null,
      workspace: project,
      createdAfterMs: cmd.createdAtMs,
    });
    if (found) {
      // Made by an earlier attempt whose answer was lost. That attempt may have stopped before its
      // follow-up, the move to the status's section (the task then sits in the project's first
      // section): finish it. What the create call itself carried is on the task already.
      const made = await readTask(found.targetId);
      const status = cmd.fields.known.includes('status') ? cmd.fields.status : null;
      const target = status ? await statusTarget(project, status) : null;
      if (target && 'reason' in target) return taskResult(made, [target], true);
      if (!target?.section || inSection(made, target.section)) return taskResult(made, [], true);
      await moveToSection(target.section, made.gid);
      return taskResult(await readTask(made.gid), [], false);
    }
    // The description is always written: it carries the marker, even when the command has none.
    const write = [...new Set([...cmd.fields.known, 'description'])];
    const { data, section, labels, skipped } = await taskBody(project, cmd.fields, write, marker);
    if (labels?.length) {
      const workspace = await workspaceOf(project);
      const tags: string[] = [];
      for (const name of labels) tags.push(await tagNamed(workspace, name));
      data.tags = tags;
    }
    // A create always carries a name, so a refused priority is sent again without it (never null).
    const created = one(asanaTaskSchema).parse(
      await withoutRefusedPriority({ name: '', ...data, projects: [project] }, skipped, (body) =>
        api.tasks.createTask({ data: body }, { opt_fields: taskFields(cfg) }),
      ),
    ).data;
    if (!section || inSection(created, section)) return taskResult(created, skipped, false);
    // The task exists from here on: a failed move must not fail the command, or egress would
    // retry a create that was made. The status is reported as not written and the create stands.
    try {
      await moveToSection(section, created.gid);
      return taskResult(await readTask(created.gid), skipped, false);
    } catch (err) {
      const r = taskResult(created, skipped, false);
      return {
        ...r,
        written: r.written && { ...r.written, known: r.written.known.filter((f) => f !== 'status') },
        skipped: [
          ...skipped,
          {
            field: 'status',
            reason: 'follow_up_failed',
            detail: `moving task ${created.gid} to its section after its create: ${errorText(err)}`,
          },
        ],
      };
    }
  }

  async function applyTask(cmd: WriteCommand): Promise<ApplyResult> {
    if (cmd.action === 'create') {
      if (!cmd.marker) throw invalid(cmd, 'a create needs a marker');
      return createTask(cmd, cmd.marker);
    }
    const targetId = required(cmd);
    if (cmd.action === 'delete') return deleted(targetId, () => api.tasks.deleteTask(targetId));
    const current = await readTask(targetId);
    const before = taskState(current, cfg);
    const stale = staleFields(cmd, before);
    const write = fieldsToWrite(cmd, before, stale);
    // Sections belong to a project: the flow side's (a task in two projects has two statuses).
    const project = cmd.workspace;
    // A description rewrite keeps the create marker the task carries.
    const { data, section, labels, skipped } = await taskBody(
      project,
      cmd.fields,
      write,
      markerIn(current.html_notes),
    );
    // The section first: it is the status (by name) whatever `completed` says, so a read between
    // the two calls already shows the new status, never a mix that looks like a person's edit.
    if (section && !inSection(current, section)) await moveToSection(section, targetId);
    if (Object.keys(data).length > 0)
      await withoutRefusedPriority(data, skipped, (body) =>
        api.tasks.updateTask({ data: body }, targetId, { opt_fields: 'modified_at' }),
      );
    if (labels) await writeLabels(project, current, labels);
    const after = write.length > 0 ? await readTask(targetId) : current;
    // Nothing left to write and nothing refused: the task already holds every value (a repeat).
    return taskResult(after, [...stale, ...skipped], write.length === 0 && stale.length === 0, before);
  }

  async function applyComment(cmd: WriteCommand): Promise<ApplyResult> {
    if (cmd.action === 'create') {
      const parentId = cmd.parentId;
      if (!cmd.marker || !parentId) throw invalid(cmd, 'a comment create needs a marker and a parentId');
      const found = await findStoryByMarker(parentId, cmd.marker);
      if (found) return storyResult(await readStory(found.targetId), [], true);
      const html = withMarkerLine(markdownToHtml(cmd.fields.body ?? '', { target: 'story' }), cmd.marker);
      const created = one(asanaStorySchema).parse(
        await api.stories.createStoryForTask({ data: { html_text: html } }, parentId, {
          opt_fields: STORY_FIELDS,
        }),
      ).data;
      return storyResult(created, [], false);
    }
    const targetId = required(cmd);
    if (cmd.action === 'delete') return deleted(targetId, () => api.stories.deleteStory(targetId));
    const current = await readStory(targetId);
    const before = storyState(current);
    const stale = staleFields(cmd, before);
    const write = fieldsToWrite(cmd, before, stale);
    if (!write.includes('body')) return storyResult(current, stale, stale.length === 0, before);
    const marker = markerIn(current.html_text);
    const html = markdownToHtml(cmd.fields.body ?? '', { target: 'story' });
    const updated = one(asanaStorySchema).parse(
      await api.stories.updateStory(
        { data: { html_text: marker ? withMarkerLine(html, marker) : html } },
        targetId,
        { opt_fields: STORY_FIELDS },
      ),
    ).data;
    return storyResult(updated, stale, false, before);
  }

  /**
   * A note is a comment story whose html ends with the create marker of its note id (as a comment
   * create's does with its marker): looked for first, so a retry after a lost answer finds it.
   */
  async function postNote(note: ItemNote): Promise<PostedNote> {
    const marker = noteCreateMarker(note.noteId);
    const found = await findStoryByMarker(note.targetId, marker);
    if (found) return { commentId: found.targetId, alreadyPosted: true };
    const created = one(z.object({ gid: z.string() })).parse(
      await api.stories.createStoryForTask(
        { data: { html_text: withMarkerLine(noteHtml(note.paragraphs), marker) } },
        note.targetId,
        { opt_fields: 'gid' },
      ),
    ).data;
    return { commentId: created.gid, alreadyPosted: false };
  }

  return {
    findByMarker,
    postNote,
    async apply(cmd) {
      if (cmd.entityType === 'issue') return applyTask(cmd);
      if (cmd.entityType === 'comment') return applyComment(cmd);
      throw invalid(cmd, `Asana has no ${cmd.entityType} entities`);
    },
  };
}

function invalid(cmd: WriteCommand, cause: string): LockstepError {
  return new LockstepError(`applying ${cmd.commandId} to asana`, { category: 'validation', cause });
}

function required(cmd: WriteCommand): string {
  if (!cmd.targetId) throw invalid(cmd, `${cmd.action} needs a targetId`);
  return cmd.targetId;
}
