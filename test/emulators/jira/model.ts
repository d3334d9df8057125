/**
 * The emulated Jira site's fixed catalogue (statuses, the workflow, priorities, issue types) and
 * the stored shapes. Ids follow Jira Cloud's conventions: numeric strings for issues, comments,
 * statuses and priorities; issue keys PROJECT-N.
 */
import type { EmulatedUser } from '../common/actors.ts';

export interface StatusCategory {
  id: number;
  key: 'new' | 'indeterminate' | 'done';
  colorName: string;
  name: string;
}

export const CATEGORIES: Record<StatusCategory['key'], StatusCategory> = {
  new: { id: 2, key: 'new', colorName: 'blue-gray', name: 'To Do' },
  indeterminate: { id: 4, key: 'indeterminate', colorName: 'yellow', name: 'In Progress' },
  done: { id: 3, key: 'done', colorName: 'green', name: 'Done' },
};

export interface Status {
  id: string;
  name: string;
  description: string;
  category: StatusCategory['key'];
  /** The resolution a transition into this status sets (done-category statuses only). */
  resolution: { id: string; name: string } | null;
  /** The id of the (global) transition that leads here. */
  transitionId: string;
}

/**
 * One workflow for every project: To Do → In Progress → Done, plus Canceled. Like a team-managed
 * project's default workflow, every status can be reached from every other through a global
 * transition named after its target.
 */
export const STATUSES: Status[] = [
  { id: '10000', name: 'To Do', description: '', category: 'new', resolution: null, transitionId: '11' },
  {
    id: '3',
    name: 'In Progress',
    description: 'This issue is being actively worked on at the moment by the assignee.',
    category: 'indeterminate',
    resolution: null,
    transitionId: '21',
  },
  {
    id: '10001',
    name: 'Done',
    description: '',
    category: 'done',
    resolution: { id: '10000', name: 'Done' },
    transitionId: '31',
  },
  {
    id: '10002',
    name: 'Canceled',
    description: '',
    category: 'done',
    resolution: { id: '10001', name: "Won't Do" },
    transitionId: '41',
  },
];

export interface Priority {
  id: string;
  name: string;
  statusColor: string;
  isDefault: boolean;
}

export const PRIORITIES: Priority[] = [
  { id: '1', name: 'Highest', statusColor: '#d04437', isDefault: false },
  { id: '2', name: 'High', statusColor: '#f15C75', isDefault: false },
  { id: '3', name: 'Medium', statusColor: '#f79232', isDefault: true },
  { id: '4', name: 'Low', statusColor: '#707070', isDefault: false },
  { id: '5', name: 'Lowest', statusColor: '#999999', isDefault: false },
];

export interface IssueType {
  id: string;
  name: string;
  description: string;
}

export const ISSUE_TYPES: IssueType[] = [
  { id: '10001', name: 'Task', description: 'A small, distinct piece of work.' },
  { id: '10002', name: 'Bug', description: 'A problem or error.' },
  { id: '10003', name: 'Story', description: 'Functionality or a feature expressed as a user goal.' },
];

export interface Project {
  id: string;
  key: string;
  name: string;
  leadAccountId: string | null;
}

export interface ChangeItem {
  field: string;
  fieldtype: 'jira' | 'custom';
  fieldId: string;
  from: string | null;
  fromString: string | null;
  to: string | null;
  toString: string | null;
}

export interface History {
  id: string;
  authorId: string;
  createdMs: number;
  items: ChangeItem[];
}

export interface StoredComment {
  id: string;
  authorId: string;
  updateAuthorId: string;
  body: unknown;
  createdMs: number;
  updatedMs: number;
  /** Comment entity properties (`properties` on create; read with `expand=properties`). */
  properties?: Record<string, unknown>;
}

export interface StoredIssue {
  id: string;
  key: string;
  projectKey: string;
  issueTypeId: string;
  summary: string;
  description: unknown;
  statusId: string;
  priorityId: string;
  assigneeId: string | null;
  reporterId: string;
  creatorId: string;
  labels: string[];
  /** YYYY-MM-DD or null. */
  duedate: string | null;
  createdMs: number;
  updatedMs: number;
  statusCategoryChangedMs: number;
  resolutionMs: number | null;
  comments: StoredComment[];
  properties: Map<string, unknown>;
  histories: History[];
}

export interface AdminWebhook {
  id: number;
  name: string;
  url: string;
  events: string[];
  /** JQL from `filters["issue-related-events-section"]`; empty matches every issue. */
  jqlFilter: string;
  excludeBody: boolean;
  secret: string | null;
  enabled: boolean;
  lastUpdatedUser: string;
  lastUpdatedMs: number;
}

export const WEBHOOK_EVENTS = [
  'jira:issue_created',
  'jira:issue_updated',
  'jira:issue_deleted',
  'comment_created',
  'comment_updated',
  'comment_deleted',
  'issue_property_set',
  'issue_property_deleted',
] as const;

export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Jira's timestamp format: `2026-05-01T10:30:00.000+0000`. */
export function jiraTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}

export function statusById(id: string): Status {
  const s = STATUSES.find((x) => x.id === id);
  if (!s) throw new Error(`looking up status ${id}: not in the workflow`);
  return s;
}

export function priorityById(id: string): Priority {
  const p = PRIORITIES.find((x) => x.id === id);
  if (!p) throw new Error(`looking up priority ${id}: unknown`);
  return p;
}

/** The plain text of an ADF document (for changelog strings and the sandbox). */
export function adfText(doc: unknown): string {
  if (doc === null || typeof doc !== 'object') return '';
  const node = doc as { type?: unknown; text?: unknown; content?: unknown };
  if (node.type === 'text' && typeof node.text === 'string') return node.text;
  if (!Array.isArray(node.content)) return '';
  const inner = node.content.map(adfText);
  return node.type === 'doc' ? inner.join('\n') : inner.join('');
}

/** Whether `v` is an ADF document as v3 requires: `{type:'doc', version:1, content:[nodes]}`. */
export function isAdfDoc(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const d = v as Record<string, unknown>;
  return (
    d['type'] === 'doc' &&
    d['version'] === 1 &&
    Array.isArray(d['content']) &&
    (d['content'] as unknown[]).every(isAdfNode)
  );
}

/** The text marks of the ADF spec (developer.atlassian.com, "Atlassian Document Format": marks). */
const ADF_MARKS = new Set([
  'alignment',
  'annotation',
  'backgroundColor',
  'border',
  'code',
  'em',
  'indentation',
  'link',
  'strike',
  'strong',
  'subsup',
  'textColor',
  'underline',
]);

/**
 * A text node's marks as the ADF spec allows them: known mark types, each at most once, and
 * `code` combined with no mark but `link` (the spec: "code … can only be combined with link").
 */
function adfMarksOk(marks: unknown): boolean {
  if (marks === undefined) return true;
  if (!Array.isArray(marks)) return false;
  const types = marks.map((m) =>
    m !== null && typeof m === 'object' ? (m as Record<string, unknown>)['type'] : undefined,
  );
  if (!types.every((t) => typeof t === 'string' && ADF_MARKS.has(t))) return false;
  if (new Set(types).size !== types.length) return false;
  return !types.includes('code') || types.every((t) => t === 'code' || t === 'link');
}

function isAdfNode(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const n = v as Record<string, unknown>;
  if (typeof n['type'] !== 'string' || n['type'] === 'doc') return false;
  // The spec's text node: `text` is a string of at least one character.
  if (n['type'] === 'text' && (typeof n['text'] !== 'string' || n['text'] === '')) return false;
  if (n['type'] === 'text' && !adfMarksOk(n['marks'])) return false;
  return (
    n['content'] === undefined ||
    (Array.isArray(n['content']) && (n['content'] as unknown[]).every(isAdfNode))
  );
}

export type { EmulatedUser };
