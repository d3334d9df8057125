/**
 * Jira webhook payload → ChangeEvent[] (pure), plus the ADF ↔ markdown conversions apply.ts uses.
 * The poller passes search results (the same issue shape as GET issue) through the same functions.
 */
import { createRequire } from 'node:module';
import { markdownToAdf as marklassian } from 'marklassian';
import { z } from 'zod';
import type { ChangeEvent, EntityState, Op, Person, Status, Via } from '../../../schemas/generated/types.ts';
import { LockstepError } from '../../core/errors/index.ts';
import { isLockstepNote } from '../kit/notes.ts';
import { deterministicEventId, entityState, type NormalizeContext } from '../types.ts';
import type { JiraConfig } from './config.ts';

export const PLATFORM = 'jira';

/**
 * The issue/comment entity property holding a create marker, `{id: <link id>}`. Written in the
 * create call itself (apply.ts), so a record of ours is never seen without it; searches and issue
 * reads ask for it (`properties=lockstep.link`) so every observation carries it (Source.marker).
 */
export const MARKER_PROPERTY = 'lockstep.link';
const markerValue = z.object({ id: z.string().min(1) });

/** The create marker an issue read with `properties=lockstep.link` carries, or null. */
export function markerOf(properties: Record<string, unknown> | null | undefined): string | null {
  const v = markerValue.safeParse(properties?.[MARKER_PROPERTY]);
  return v.success ? v.data.id : null;
}

// --- ADF ↔ markdown -------------------------------------------------------------------------

export interface AdfNode {
  type: string;
  attrs?: Record<string, unknown>;
  content?: AdfNode[];
  marks?: { type: string; attrs?: Record<string, unknown> }[];
  text?: string;
}
export interface AdfDoc {
  type: 'doc';
  version: 1;
  content: AdfNode[];
}

// adf-to-md is CommonJS without types; this is its whole surface.
const adfToMd = createRequire(import.meta.url)('adf-to-md') as {
  convert(adf: AdfDoc): { result: string; warnings: Set<string> };
};

/**
 * adf-to-md mutates ordered lists while converting and console.logs every node type it does not
 * know (which would corrupt JSON logs), so it gets a copy in which mentions, emoji-free inline
 * nodes and unknown blocks are already reduced to what it understands.
 */
function simplify(node: AdfNode): AdfNode | null {
  switch (node.type) {
    case 'mention':
      return { type: 'text', text: String(node.attrs?.text ?? `@${String(node.attrs?.id ?? 'someone')}`) };
    case 'date':
      return { type: 'text', text: new Date(Number(node.attrs?.timestamp)).toISOString().slice(0, 10) };
    case 'status':
      return { type: 'text', text: String(node.attrs?.text ?? '') };
    case 'doc':
    case 'text':
    case 'paragraph':
    case 'heading':
    case 'hardBreak':
    case 'inlineCard':
    case 'blockCard':
    case 'embedCard':
    case 'blockquote':
    case 'bulletList':
    case 'orderedList':
    case 'listItem':
    case 'codeBlock':
    case 'rule':
    case 'emoji':
    case 'table':
    case 'tableRow':
    case 'tableHeader':
    case 'tableCell':
      return {
        ...node,
        ...(node.attrs && { attrs: { ...node.attrs } }),
        ...(node.content && { content: node.content.map(simplify).filter((n): n is AdfNode => n !== null) }),
        ...(node.marks && {
          marks: node.marks.filter((m) => ['code', 'em', 'link', 'strike', 'strong'].includes(m.type)),
        }),
      };
    default:
      // panels, expands, media …: keep their text content as paragraphs, drop the rest.
      return node.content
        ? { type: 'paragraph', content: node.content.flatMap((c) => simplify(c)?.content ?? []) }
        : null;
  }
}

export function adfToMarkdown(adf: unknown): string {
  if (adf === null || adf === undefined) return '';
  if (typeof adf === 'string') return adf; // webhooks/changelogs may carry plain (wiki) text
  const doc = adfDoc.safeParse(adf);
  if (!doc.success)
    throw new LockstepError('converting ADF to markdown', {
      category: 'validation',
      cause: doc.error.message,
    });
  const simple = simplify(doc.data);
  if (!simple) return '';
  const md = adfToMd.convert({ type: 'doc', version: 1, content: simple.content ?? [] }).result;
  // adf-to-md writes "``` ts" fences and "  * item" / "  1. item" list lines; normalize them to
  // the markdown marklassian reads, so text survives a Jira → Linear → Jira trip unchanged.
  return trimMarkdown(
    md
      .replace(/^``` (\S+)$/gm, '```$1')
      .replace(/^ {2}\* /gm, '- ')
      .replace(/^ {2}(\d+)\. /gm, '$1. '),
  );
}

/**
 * Drops leading newlines and trailing whitespace, in one pass each. It replaces
 * `/^\n+|\s+$/g`, which is quadratic: at every start of a whitespace run that is not at the end the
 * engine tries `\s+$` to the run's end and fails. Measured on the 2-core development machine: a
 * 100 000-space run inside a description took 61 s (50 000: 9 s); this loop takes milliseconds.
 */
export function trimMarkdown(s: string): string {
  let start = 0;
  while (start < s.length && s.charCodeAt(start) === 10) start++;
  let end = s.length;
  while (end > start && /\s/.test(s[end - 1]!)) end--;
  return s.slice(start, end);
}

export function markdownToAdf(markdown: string): AdfDoc {
  return marklassian(markdown);
}

const adfNode: z.ZodType<AdfNode> = z.lazy(() =>
  z.object({
    type: z.string(),
    attrs: z.record(z.string(), z.unknown()).optional(),
    content: z.array(adfNode).optional(),
    marks: z
      .array(z.object({ type: z.string(), attrs: z.record(z.string(), z.unknown()).optional() }))
      .optional(),
    text: z.string().optional(),
  }),
);
const adfDoc = z.object({ type: z.literal('doc'), version: z.literal(1), content: z.array(adfNode) });

// --- payload shapes -------------------------------------------------------------------------

const iso = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be a date-time');
// Only the account id identifies a person; a payload may leave any of these out (Atlassian's own
// webhook example spells it `accoundId`; automation-rule events may carry no user at all).
const jiraUser = z.object({
  accountId: z.string().nullish(),
  displayName: z.string().nullish(),
  emailAddress: z.string().nullish(),
});

export const jiraIssue = z.object({
  id: z.string(),
  key: z.string(),
  self: z.string().nullish(),
  fields: z.object({
    summary: z.string().nullish(),
    description: z.unknown().optional(),
    status: z.object({ name: z.string(), statusCategory: z.object({ key: z.string() }) }).nullish(),
    priority: z.object({ name: z.string() }).nullish(),
    assignee: jiraUser.nullish(),
    labels: z.array(z.string()).nullish(),
    duedate: z.string().nullish(),
    project: z.object({ key: z.string() }).nullish(),
    created: iso.nullish(),
    updated: iso,
  }),
  /** Only the properties asked for (`properties=…`); webhooks carry none. */
  properties: z.record(z.string(), z.unknown()).nullish(),
});
export type JiraIssue = z.infer<typeof jiraIssue>;

export const jiraComment = z.object({
  id: z.string(),
  body: z.unknown(),
  author: jiraUser.nullish(),
  updateAuthor: jiraUser.nullish(),
  created: iso,
  updated: iso,
  self: z.string().nullish(),
});
export type JiraComment = z.infer<typeof jiraComment>;

const changelogItem = z.object({
  field: z.string(),
  fieldId: z.string().nullish(),
  from: z.string().nullish(),
  fromString: z.string().nullish(),
  to: z.string().nullish(),
  toString: z.string().nullish(),
});

const webhookPayload = z.object({
  webhookEvent: z.string(),
  timestamp: z.number().nullish(),
  // Read leniently (webhookActor): a user Lockstep cannot read is an unknown actor, not bad input.
  user: z.unknown().optional(),
  issue: z.unknown().optional(),
  comment: z.unknown().optional(),
  changelog: z.object({ items: z.array(changelogItem) }).nullish(),
});

/**
 * The issue as an issue webhook carries it, read leniently: Lockstep cannot work without the
 * issue's id and key (the key names its project, which places it in a flow's scope; Jira sends
 * both on every issue event), so only those make the payload malformed. A field whose shape is not what Jira's REST API returns
 * (Atlassian's documented example has `"priority": "Minor"` and a plain-text description) is left
 * unknown, as if the payload had not carried it; the event carries the fields that were readable.
 * Without `fields.updated` the version is the webhook's `timestamp` (the same on every retry of
 * one delivery, so the event id stays deterministic).
 */
const webhookIssueCore = z.object({
  id: z.union([z.string().min(1), z.number().int().transform(String)]),
  key: z.string().min(1),
  self: z.string().nullish(),
  fields: z.record(z.string(), z.unknown()).nullish(),
  properties: z.record(z.string(), z.unknown()).nullish(),
});

export function webhookIssue(raw: unknown, timestampMs: number | null): JiraIssue {
  const core = webhookIssueCore.safeParse(raw);
  if (!core.success) throw invalid('webhook issue', core.error);
  const rawFields = core.data.fields ?? {};
  const shape = jiraIssue.shape.fields.shape;
  const fields: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(shape)) {
    if (!(name in rawFields)) continue;
    const v = (schema as z.ZodType).safeParse(rawFields[name]);
    if (!v.success) continue;
    // The description is wiki text (a string) or ADF; anything else is unreadable, so unknown.
    if (
      name === 'description' &&
      typeof v.data !== 'string' &&
      v.data !== null &&
      !adfDoc.safeParse(v.data).success
    )
      continue;
    fields[name] = v.data;
  }
  if (fields.updated === undefined) {
    if (timestampMs === null)
      throw new LockstepError('normalizing jira webhook issue', {
        category: 'validation',
        cause: 'issue.fields.updated and the payload timestamp are both missing: the change has no version',
      });
    fields.updated = new Date(timestampMs).toISOString();
  }
  return {
    id: core.data.id,
    key: core.data.key,
    self: core.data.self,
    fields: fields as JiraIssue['fields'],
    properties: core.data.properties,
  };
}

/** The webhook's `user`, or null (an unknown actor) when it names nobody Lockstep can read. */
function webhookActor(raw: unknown): Person | null {
  const u = jiraUser.safeParse(raw);
  return u.success ? person(u.data) : null;
}

// --- mapping --------------------------------------------------------------------------------

/** statusCategory.key → category; `config.statusCategories` can name statuses (Backlog, Won't Do). */
const CATEGORY_FROM_KEY: Record<string, Status['category']> = {
  new: 'todo',
  indeterminate: 'in_progress',
  done: 'done',
};

export function jiraStatus(
  cfg: Pick<JiraConfig, 'statusCategories'>,
  name: string,
  categoryKey: string | null,
): Status | null {
  const category = cfg.statusCategories[name] ?? (categoryKey ? CATEGORY_FROM_KEY[categoryKey] : undefined);
  return category ? { category, name } : null;
}

/** A user object that names nobody (no id, email or name) is an unknown person: null. */
export function person(u: z.infer<typeof jiraUser> | null | undefined): Person | null {
  if (!u) return null;
  const p = {
    email: u.emailAddress ?? null,
    platformUserId: u.accountId ?? null,
    displayName: u.displayName ?? null,
  };
  return p.email === null && p.platformUserId === null && p.displayName === null ? null : p;
}

/** Jira's `self` is the REST URL; people want the browse URL. */
function browseUrl(i: JiraIssue): string | undefined {
  if (!i.self) return undefined;
  const at = i.self.indexOf('/rest/api/');
  return at > 0 ? `${i.self.slice(0, at)}/browse/${i.key}` : undefined;
}

export function issueState(cfg: JiraConfig, i: JiraIssue): EntityState {
  const f = i.fields;
  const status = f.status ? jiraStatus(cfg, f.status.name, f.status.statusCategory.key) : null;
  return entityState({
    title: f.summary ?? undefined,
    description: f.description === undefined ? undefined : adfToMarkdown(f.description),
    status: status ?? undefined,
    priority:
      f.priority === undefined
        ? undefined
        : f.priority === null
          ? 'none'
          : (cfg.priorities.fromJira[f.priority.name] ?? undefined),
    assignee: f.assignee === undefined ? undefined : person(f.assignee),
    labels: f.labels ? [...f.labels].sort() : undefined,
    dueDate: f.duedate === undefined ? undefined : f.duedate,
    url: browseUrl(i),
    createdAtMs: f.created ? Date.parse(f.created) : undefined,
    updatedAtMs: Date.parse(f.updated),
  });
}

export function commentState(c: JiraComment): EntityState {
  return entityState({
    body: adfToMarkdown(c.body),
    author: c.author ? person(c.author) : undefined,
    createdAtMs: Date.parse(c.created),
    updatedAtMs: Date.parse(c.updated),
  });
}

/** changelog.items → before state + changed canonical fields. Only what Jira told us. */
function changelogBefore(
  cfg: JiraConfig,
  items: z.infer<typeof changelogItem>[],
): { before: EntityState; changed: string[] } {
  const v: Partial<Omit<EntityState, 'known'>> = {};
  const changed = new Set<string>();
  for (const it of items) {
    switch (it.fieldId ?? it.field) {
      case 'summary':
        changed.add('title');
        if (typeof it.fromString === 'string') v.title = it.fromString;
        break;
      case 'description':
        changed.add('description');
        v.description = it.fromString ?? '';
        break;
      case 'status': {
        changed.add('status');
        // The changelog names the old status but not its category; only configured names map.
        const s = it.fromString ? jiraStatus(cfg, it.fromString, null) : null;
        if (s) v.status = s;
        break;
      }
      case 'priority':
        changed.add('priority');
        if (it.fromString && cfg.priorities.fromJira[it.fromString])
          v.priority = cfg.priorities.fromJira[it.fromString];
        break;
      case 'assignee':
        changed.add('assignee');
        v.assignee = it.from
          ? { email: null, platformUserId: it.from, displayName: it.fromString ?? null }
          : null;
        break;
      case 'labels':
        changed.add('labels');
        v.labels = (it.fromString ?? '').split(' ').filter(Boolean).sort();
        break;
      case 'duedate':
        changed.add('dueDate');
        v.dueDate = it.from ? it.from.slice(0, 10) : null;
        break;
      default:
        break;
    }
  }
  return { before: entityState(v), changed: [...changed] };
}

export interface JiraSourceExtras {
  via: Via;
  deliveryId: string | null;
  actor: Person | null;
  botUserId: string | null;
  nowMs: number;
}

function source(
  entityType: 'issue' | 'comment',
  id: string,
  key: string | null,
  parentId: string | null,
  workspace: string,
  version: string,
  tsMs: number,
  x: JiraSourceExtras,
  marker: string | null,
): ChangeEvent['source'] {
  return {
    platform: PLATFORM,
    workspace,
    entityType,
    entityId: id,
    entityKey: key,
    parentId,
    via: x.via,
    deliveryId: x.deliveryId,
    actor: x.actor,
    actorIsLockstep: x.actor !== null && x.botUserId !== null && x.actor.platformUserId === x.botUserId,
    marker,
    version,
    tsMs,
  };
}

const TIMESTAMPS = new Set(['createdAtMs', 'updatedAtMs', 'url']);

export function issueEvent(
  cfg: JiraConfig,
  op: Op,
  i: JiraIssue,
  items: z.infer<typeof changelogItem>[] | null,
  x: JiraSourceExtras,
  deletedAtMs?: number,
): ChangeEvent | null {
  const after = issueState(cfg, i);
  let before: EntityState | null = null;
  let changed = after.known.filter((k) => !TIMESTAMPS.has(k));
  if (op === 'u' && items) {
    const b = changelogBefore(cfg, items);
    if (b.changed.length === 0) return null;
    before = b.before;
    changed = b.changed;
  }
  const version = i.fields.updated;
  const workspace = i.fields.project?.key ?? i.key.split('-')[0]!;
  return {
    eventId: deterministicEventId({
      platform: PLATFORM,
      entityType: 'issue',
      entityId: i.id,
      version,
      deleted: op === 'd',
    }),
    op,
    before,
    after: op === 'd' ? null : after,
    source: source(
      'issue',
      i.id,
      i.key,
      null,
      workspace,
      version,
      op === 'd' && deletedAtMs ? deletedAtMs : Date.parse(version),
      x,
      markerOf(i.properties),
    ),
    changedFields: changed,
    tsMs: x.nowMs,
  };
}

/** Lockstep's own note on an item (egress/notes.ts, kit/notes.ts): never a change to mirror. */
export function isNoteComment(c: JiraComment, botUserId: string | null): boolean {
  return isLockstepNote(adfToMarkdown(c.body), c.author?.accountId ?? null, botUserId);
}

export function commentEvent(
  op: Op,
  c: JiraComment,
  issue: { id: string; key: string },
  x: JiraSourceExtras,
  deletedAtMs?: number,
): ChangeEvent {
  const version = c.updated;
  return {
    eventId: deterministicEventId({
      platform: PLATFORM,
      entityType: 'comment',
      entityId: c.id,
      version,
      deleted: op === 'd',
    }),
    op,
    before: null,
    after: op === 'd' ? null : commentState(c),
    source: source(
      'comment',
      c.id,
      null,
      issue.id,
      issue.key.split('-')[0]!,
      version,
      op === 'd' && deletedAtMs ? deletedAtMs : Date.parse(version),
      x,
      // Comment reads (search `fields=comment`, webhooks) carry no properties; the author tells ours.
      null,
    ),
    changedFields: ['body'],
    tsMs: x.nowMs,
  };
}

const EVENT_TO_OP: Record<string, Op> = {
  'jira:issue_created': 'c',
  'jira:issue_updated': 'u',
  'jira:issue_deleted': 'd',
  comment_created: 'c',
  comment_updated: 'u',
  comment_deleted: 'd',
};

function invalid(what: string, err: z.ZodError): LockstepError {
  const detail = err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  return new LockstepError(`normalizing jira ${what}`, { category: 'validation', cause: detail });
}

/**
 * Issue and comment webhooks → events. Other events (issue_property_set, worklogs, sprints …) and
 * issues outside the configured projects yield [].
 */
export function normalizeJira(payload: unknown, ctx: NormalizeContext<JiraConfig>): ChangeEvent[] {
  const p = webhookPayload.safeParse(payload);
  if (!p.success) throw invalid('webhook payload', p.error);
  const op = EVENT_TO_OP[p.data.webhookEvent];
  if (!op) return [];
  const isComment = p.data.webhookEvent.startsWith('comment_');
  // Comment webhooks carry the issue in brief (summary, issuetype, project, assignee, priority,
  // status; no `updated`): a comment event needs only its id, key and project.
  const brief = webhookIssueCore.safeParse(p.data.issue);
  if (!brief.success) throw invalid(`${p.data.webhookEvent} issue`, brief.error);
  const projectField = z.object({ key: z.string() }).safeParse(brief.data.fields?.project);
  const project = projectField.success ? projectField.data.key : brief.data.key.split('-')[0]!;
  if (!ctx.config.projects.includes(project)) return [];
  const x: JiraSourceExtras = {
    via: ctx.via,
    deliveryId: ctx.deliveryId,
    actor: webhookActor(p.data.user),
    botUserId: ctx.config.botAccountId ?? ctx.botUserId,
    nowMs: ctx.nowMs,
  };
  const deletedAt = p.data.timestamp ?? undefined;
  if (isComment) {
    const c = jiraComment.safeParse(p.data.comment);
    if (!c.success) throw invalid(`${p.data.webhookEvent} comment`, c.error);
    // Comment webhooks carry no `user`; the author (or updateAuthor) is the actor.
    const actorRaw = z.object({ updateAuthor: jiraUser.nullish() }).safeParse(p.data.comment);
    const actor = x.actor ?? person((actorRaw.success && actorRaw.data.updateAuthor) || c.data.author);
    if (isNoteComment(c.data, x.botUserId)) return [];
    return [commentEvent(op, c.data, brief.data, { ...x, actor }, deletedAt)];
  }
  const issue = webhookIssue(p.data.issue, p.data.timestamp ?? null);
  const e = issueEvent(
    ctx.config,
    op,
    issue,
    op === 'u' ? (p.data.changelog?.items ?? []) : null,
    x,
    deletedAt,
  );
  return e ? [e] : [];
}
