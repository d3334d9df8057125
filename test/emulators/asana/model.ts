/**
 * The Asana emulator's in-memory data model and how records are rendered: the default (full or
 * compact) representation and `opt_fields` projections, as Asana's input/output options describe.
 */

export interface AsanaSeedUser {
  gid: string;
  name: string;
  email: string;
  /** Tokens (PATs) that act as this user. */
  tokens?: string[];
  /** The user Lockstep's configured token belongs to. */
  bot?: boolean;
}

/** An enum custom field (a Premium feature); `locked`: locked by someone else, so writes answer 403. */
export interface AsanaSeedCustomField {
  gid: string;
  name: string;
  type: 'enum';
  enum_options: { gid: string; name: string; enabled?: boolean; color?: string | null }[];
  locked?: boolean;
}

export interface AsanaSeed {
  /** `premium: false`: a workspace without Premium (custom fields answer 402); Premium when omitted. */
  workspaces?: { gid: string; name: string; premium?: boolean }[];
  /** Custom field definitions of the (first) workspace; projects attach them by gid. */
  customFields?: AsanaSeedCustomField[];
  users?: AsanaSeedUser[];
  projects?: {
    gid: string;
    name: string;
    workspace: string;
    sections?: { gid: string; name: string }[];
    /** User gids; all seeded users when omitted. */
    members?: string[];
    /** Custom field gids attached to the project (its custom_field_settings). */
    custom_field_settings?: string[];
  }[];
  tags?: { gid: string; name: string; workspace: string }[];
  tasks?: {
    gid: string;
    name: string;
    notes?: string;
    workspace?: string;
    memberships?: { project: string; section?: string }[];
    assignee?: string | null;
    completed?: boolean;
    due_on?: string | null;
    tags?: string[];
    external?: { gid?: string; data?: string };
    created_by?: string;
    /** Custom field gid → enum option gid. */
    custom_fields?: Record<string, string | null>;
  }[];
  stories?: { gid: string; task: string; text: string; created_by: string }[];
}

export interface Workspace {
  gid: string;
  name: string;
  premium: boolean;
}
export interface CustomField {
  gid: string;
  name: string;
  workspace: string;
  type: 'enum';
  enum_options: { gid: string; name: string; enabled: boolean; color: string | null }[];
  locked: boolean;
}
export interface Project {
  gid: string;
  name: string;
  workspace: string;
  members: string[];
  /** Custom field gids attached to the project, in order. */
  custom_fields: string[];
  created_at: string;
  modified_at: string;
}
export interface Section {
  gid: string;
  name: string;
  project: string;
  created_at: string;
}
export interface Tag {
  gid: string;
  name: string;
  workspace: string;
  color: string | null;
  notes: string;
  created_at: string;
}
export interface Task {
  gid: string;
  name: string;
  notes: string;
  html_notes: string;
  completed: boolean;
  completed_at: string | null;
  completed_by: string | null;
  assignee: string | null;
  due_on: string | null;
  due_at: string | null;
  start_on: string | null;
  created_at: string;
  modified_at: string;
  created_by: string | null;
  workspace: string;
  memberships: { project: string; section: string | null }[];
  tags: string[];
  followers: string[];
  external: { gid: string | null; data: string | null } | null;
  /** Custom field gid → enum option gid (null: cleared). */
  custom_fields: Record<string, string | null>;
  deleted: boolean;
}
export interface Story {
  gid: string;
  task: string;
  type: 'comment' | 'system';
  resource_subtype: string;
  text: string;
  html_text: string;
  created_at: string;
  created_by: string | null;
  is_edited: boolean;
  is_pinned: boolean;
}
export interface Webhook {
  gid: string;
  resource: string;
  resource_type: string;
  target: string;
  secret: string;
  filters: WebhookFilter[];
  owner: string;
  created_at: string;
  active: boolean;
  last_success_at: string | null;
  last_failure_at: string | null;
  last_failure_content: string;
  deliveries: number;
}
export interface WebhookFilter {
  resource_type?: string;
  resource_subtype?: string;
  action?: string;
  fields?: string[];
}
export interface ResourceRef {
  gid: string;
  resource_type: string;
  resource_subtype?: string;
}
/** One change, as Asana's compact events describe it; `scopes` are the gids it is visible under. */
export interface AsanaEvent {
  seq: number;
  user: string | null;
  created_at: string;
  action: 'added' | 'changed' | 'removed' | 'deleted' | 'undeleted';
  resource: ResourceRef;
  parent: ResourceRef | null;
  change: { field: string; action: string } | null;
  scopes: string[];
}

/** Timestamps that strictly advance, so every change has a later `modified_at` than the last. */
export class MonotonicClock {
  private last = 0;
  now(): string {
    this.last = Math.max(Date.now(), this.last + 1);
    return new Date(this.last).toISOString();
  }
  /** The last time handed out (events of one change share its time). */
  peek(): string {
    return this.last ? new Date(this.last).toISOString() : this.now();
  }
  reset(): void {
    this.last = 0;
  }
}

/** Asana gids are numeric strings (16 digits today). */
export class GidSource {
  private next = 1209000000000001n;
  take(): string {
    return String(this.next++);
  }
  reset(): void {
    this.next = 1209000000000001n;
  }
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Plain text of Asana rich text (`<body>…</body>`). */
export function richToPlain(html: string): string {
  return html
    .replace(/<br\s*\/?>/g, '\n')
    .replace(/<\/?[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

export function plainToRich(text: string): string {
  return `<body>${escapeXml(text)}</body>`;
}

type Rec = Record<string, unknown>;

function isRec(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Projects a rich record onto `paths` (dotted opt_fields). A resource always keeps its `gid`;
 * `withType` also keeps `resource_type` at the top (Asana's default representations carry it,
 * an explicit opt_fields list does not unless asked). A reference asked for without sub-fields
 * comes back compact, `{gid, resource_type}`.
 */
export function pick(obj: Rec, paths: string[], withType: boolean): Rec {
  const groups = new Map<string, string[]>();
  for (const p of paths) {
    const [head = '', ...rest] = p.split('.');
    const g = groups.get(head) ?? [];
    if (rest.length) g.push(rest.join('.'));
    groups.set(head, g);
  }
  const out: Rec = {};
  if ('gid' in obj) out['gid'] = obj['gid'];
  if (withType && 'resource_type' in obj) out['resource_type'] = obj['resource_type'];
  for (const [k, sub] of groups) {
    if (!(k in obj)) continue;
    out[k] = sub.length ? deep(obj[k], sub, withType) : shallow(obj[k]);
  }
  return out;
}

function deep(v: unknown, sub: string[], withType: boolean): unknown {
  if (Array.isArray(v)) return v.map((x) => deep(x, sub, withType));
  if (isRec(v)) return pick(v, sub, withType);
  return v;
}

function shallow(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shallow);
  if (isRec(v)) {
    if (typeof v['gid'] === 'string' && typeof v['resource_type'] === 'string')
      return { gid: v['gid'], resource_type: v['resource_type'] };
    const out: Rec = {};
    for (const [k, x] of Object.entries(v)) out[k] = shallow(x);
    return out;
  }
  return v;
}

export function parseOptFields(query: URLSearchParams): string[] | null {
  const raw = query.get('opt_fields');
  if (raw === null || raw.trim() === '') return null;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Fields of a task's default (full) record; opt-in fields such as html_notes are absent. */
export const TASK_FULL = [
  'resource_type',
  'resource_subtype',
  'name',
  'notes',
  'completed',
  'completed_at',
  'completed_by.name',
  'assignee.name',
  'assignee_status',
  'due_on',
  'due_at',
  'start_on',
  'created_at',
  'created_by',
  'modified_at',
  'workspace.name',
  'memberships.project.name',
  'memberships.section.name',
  'projects.name',
  'tags.name',
  'followers.name',
  'parent',
  'permalink_url',
  'num_subtasks',
  'liked',
  'likes',
  'num_likes',
  'hearted',
  'hearts',
  'num_hearts',
  'dependencies',
  'dependents',
  'custom_fields',
  'actual_time_minutes',
  'is_rendered_as_separator',
];
export const TASK_COMPACT = ['resource_type', 'name', 'resource_subtype'];
export const STORY_FULL = [
  'resource_type',
  'created_at',
  'created_by.name',
  'type',
  'resource_subtype',
  'text',
  'is_pinned',
  'is_edited',
  'is_editable',
  'target.name',
  'source',
  'hearted',
  'hearts',
  'num_hearts',
  'liked',
  'likes',
  'num_likes',
  'previews',
];
export const STORY_COMPACT = ['resource_type', 'created_at', 'created_by.name', 'resource_subtype', 'text'];
export const USER_FULL = ['resource_type', 'name', 'email', 'photo', 'workspaces.name'];
export const NAMED_COMPACT = ['resource_type', 'name'];
export const PROJECT_FULL = [
  'resource_type',
  'name',
  'archived',
  'color',
  'created_at',
  'modified_at',
  'notes',
  'public',
  'workspace.name',
  'members.name',
  'permalink_url',
];
export const SECTION_FULL = ['resource_type', 'name', 'created_at', 'project.name'];
export const WORKSPACE_FULL = ['resource_type', 'name', 'is_organization', 'email_domains'];
export const WEBHOOK_FULL = [
  'resource_type',
  'active',
  'resource.name',
  'target',
  'created_at',
  'last_success_at',
  'last_failure_at',
  'last_failure_content',
  'filters',
];
export const WEBHOOK_COMPACT = ['resource_type', 'active', 'resource.name', 'target'];
export const TAG_FULL = [
  'resource_type',
  'name',
  'color',
  'notes',
  'created_at',
  'followers.name',
  'workspace.name',
  'permalink_url',
];
/** A custom field's default record (CustomFieldResponse); on a task the entry adds its value. */
export const CUSTOM_FIELD_FULL = [
  'resource_type',
  'name',
  'resource_subtype',
  'type',
  'enum_options.name',
  'enum_options.enabled',
  'enum_options.color',
  'enabled',
  'is_formula_field',
  'is_value_read_only',
  'description',
  'is_global_to_workspace',
  'has_notifications_enabled',
  'display_value',
  'enum_value.name',
  'enum_value.enabled',
  'enum_value.color',
];
/** A project's custom field settings as listed (Asana's documented example shows the setting with its field). */
export const CUSTOM_FIELD_SETTING_FULL = [
  'resource_type',
  'is_important',
  'project.name',
  'parent.name',
  ...CUSTOM_FIELD_FULL.filter((f) => !f.startsWith('enum_value') && f !== 'display_value').map(
    (f) => `custom_field.${f}`,
  ),
];
