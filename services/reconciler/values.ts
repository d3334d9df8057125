/**
 * Field values at the flow level, and their translation from and to each platform's canonical
 * EntityState. The base of a field always holds the flow-level value:
 * status → { category, name: the flow's status name }, assignee → a person key (core/people: the
 * lower-cased email, or the key of a `people:` entry without one) or null,
 * labels → sorted set, priority → the flow's priority; text and dates as they are.
 */
import type { EntityState, Person, Priority, Status, StatusCategory } from '../../schemas/generated/types.ts';
import type { Flow, SyncedField } from './flow.ts';
import { statusNameOn } from './flow.ts';
import { entityState } from '../connectors/types.ts';
import { EMAIL_ONLY, type PeopleDirectory } from '../core/people/index.ts';

export interface StatusValue {
  category: StatusCategory;
  name: string;
}
export type FieldValue = string | null | string[] | StatusValue;

export interface Translated {
  value: FieldValue;
  /** Why the value is not exactly what the platform holds (unmapped status, person with no match). */
  note: string | null;
  /**
   * A person the value could not carry (null in their place): who they are on the platform and
   * why, for the commands that write the field to say so on the item (WriteCommand.unresolved).
   */
  unresolved?: { person: Person; reason: string };
}

export const ISSUE_FIELDS: readonly SyncedField[] = [
  'title',
  'description',
  'status',
  'priority',
  'assignee',
  'labels',
  'dueDate',
];
export const COMMENT_FIELDS: readonly SyncedField[] = ['body'];

export function fieldsFor(entityType: string): readonly SyncedField[] {
  return entityType === 'issue' ? ISSUE_FIELDS : COMMENT_FIELDS;
}

export function equal(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]);
  }
  if (typeof a === 'object' && typeof b === 'object') return a.category === b.category && a.name === b.name;
  return false;
}

/** Platform value → flow value. `undefined` when the state does not know the field. */
export function toFlowValue(
  flow: Flow,
  platform: string,
  field: SyncedField,
  state: EntityState,
  people: PeopleDirectory = EMAIL_ONLY,
): Translated | undefined {
  if (!state.known.includes(field)) return undefined;
  switch (field) {
    case 'title':
    case 'description':
    case 'dueDate':
    case 'body':
      return { value: state[field], note: null };
    case 'labels':
      return { value: state.labels === null ? [] : [...new Set(state.labels)].sort(), note: null };
    case 'assignee': {
      const p = state.assignee;
      if (p === null) return { value: null, note: null };
      // A `people:` override first, then the email; with neither, unassigned, saying why.
      const k = people.keyOf(platform, p);
      if (k.key !== null) return { value: k.key, note: null };
      return {
        value: null,
        note: `assignee ${k.why}; left unassigned`,
        unresolved: { person: p, reason: k.why },
      };
    }
    case 'priority': {
      const p = state.priority;
      if (p === null) return { value: null, note: null };
      const entry = flow.priorityMap.find((e) => e[platform] === p);
      return { value: entry ? entry.name : p, note: null };
    }
    case 'status': {
      const s = state.status;
      if (s === null) return { value: null, note: null };
      if (flow.statusMap.length === 0) return { value: { category: s.category, name: s.name }, note: null };
      const lower = s.name.toLowerCase();
      const byName = flow.statusMap.find((e) => statusNameOn(e, platform).toLowerCase() === lower);
      if (byName) return { value: { category: byName.category, name: byName.name }, note: null };
      const byCategory = flow.statusMap.find((e) => e.category === s.category);
      if (byCategory) {
        return {
          value: { category: byCategory.category, name: byCategory.name },
          note: `status ${s.name} on ${platform} is not in the status map; matched by category ${s.category} to ${byCategory.name}`,
        };
      }
      return {
        value: { category: s.category, name: s.name },
        note: `status ${s.name} on ${platform} is not in the status map and no entry has category ${s.category}`,
      };
    }
  }
}

/**
 * How `platform` holds `label`: the connector's `canonicalLabel` (connectors/types.ts), e.g. Jira
 * holds `needs review` as `needs_review`. The identity for platforms that hold any label.
 */
export type CanonicalLabel = (platform: string, label: string) => string;

/**
 * A platform's labels in the flow's spelling. A platform that cannot hold a label as given holds
 * its canonical spelling, so a label read from it is taken as the label(s) of the link that it is
 * the spelling of, looked up in `known` in order (the base first; the first list with a match
 * wins, and every match in it is taken: the platform cannot tell them apart). A label the link
 * does not know is itself. So `needs_review` coming back from Jira is the base's `needs review`,
 * not a change, while a `needs_review` a person adds in Jira stays `needs_review`.
 */
export function flowLabels(
  labels: readonly string[],
  canonical: (label: string) => string,
  known: readonly (readonly string[])[],
): string[] {
  const out = new Set<string>();
  for (const label of labels) {
    const held = canonical(label);
    let matches: string[] = [];
    for (const list of known) {
      matches = list.filter((k) => canonical(k) === held);
      if (matches.length > 0) break;
    }
    if (matches.length === 0) out.add(label);
    for (const m of matches) out.add(m);
  }
  return [...out].sort();
}

/** An EntityState that knows nothing (connectors/types.ts `entityState` builds the shape). */
export function emptyEntityState(): EntityState {
  return entityState({});
}

function asString(v: FieldValue): string | null {
  return typeof v === 'string' ? v : null;
}

/** Flow values → the EntityState a command carries for `platform`. */
export function toPlatformState(
  flow: Flow,
  platform: string,
  values: ReadonlyMap<SyncedField, FieldValue>,
  people: PeopleDirectory = EMAIL_ONLY,
): EntityState {
  const out = emptyEntityState();
  for (const [field, v] of [...values].sort(([a], [b]) => a.localeCompare(b))) {
    out.known.push(field);
    switch (field) {
      case 'title':
      case 'description':
      case 'dueDate':
      case 'body':
        out[field] = asString(v);
        break;
      case 'labels':
        out.labels = Array.isArray(v) ? [...v] : [];
        break;
      case 'assignee':
        // The person's id on `platform` from a `people:` override, else the email egress looks up.
        out.assignee = typeof v === 'string' ? people.personOn(platform, v) : null;
        break;
      case 'priority': {
        const p = asString(v) as Priority | null;
        const entry = p === null ? undefined : flow.priorityMap.find((e) => e.name === p);
        out.priority = (entry?.[platform] as Priority | undefined) ?? p;
        break;
      }
      case 'status': {
        if (v === null || typeof v !== 'object' || Array.isArray(v)) {
          out.status = null;
          break;
        }
        const entry = flow.statusMap.find((e) => e.name === v.name);
        const status: Status = entry
          ? { category: entry.category, name: statusNameOn(entry, platform) }
          : { category: v.category, name: v.name };
        out.status = status;
        break;
      }
    }
  }
  return out;
}

const statusCategories = ['backlog', 'todo', 'in_progress', 'done', 'canceled'] as const;
const priorities = ['none', 'low', 'medium', 'high', 'urgent'] as const;

/** Checks a flow-level value given by a person (conflict resolution) for `field`. */
export function parseFieldValue(
  field: SyncedField,
  raw: unknown,
): { ok: true; value: FieldValue } | { ok: false; error: string } {
  const bad = (want: string) => ({
    ok: false as const,
    error: `${field} must be ${want}, got ${JSON.stringify(raw)}`,
  });
  switch (field) {
    case 'title':
    case 'description':
    case 'body':
      return raw === null || typeof raw === 'string' ? { ok: true, value: raw } : bad('a string or null');
    case 'dueDate':
      return raw === null || (typeof raw === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(raw))
        ? { ok: true, value: raw }
        : bad('a YYYY-MM-DD date or null');
    case 'assignee':
      if (raw === null) return { ok: true, value: null };
      if (typeof raw === 'string' && raw.includes('@')) return { ok: true, value: raw.trim().toLowerCase() };
      // The key of a `people:` entry without an email: `<platform>:<id>` (core/people).
      if (typeof raw === 'string' && /^[a-z][a-z0-9_-]*:\S+$/.test(raw.trim()))
        return { ok: true, value: raw.trim() };
      return bad('an email, a person key (<platform>:<id>) or null');
    case 'priority':
      return raw === null || (typeof raw === 'string' && (priorities as readonly string[]).includes(raw))
        ? { ok: true, value: raw }
        : bad(`one of ${priorities.join(', ')} or null`);
    case 'labels':
      return Array.isArray(raw) && raw.every((l) => typeof l === 'string')
        ? { ok: true, value: [...new Set(raw as string[])].sort() }
        : bad('an array of strings');
    case 'status': {
      if (raw === null) return { ok: true, value: null };
      if (typeof raw !== 'object' || Array.isArray(raw)) return bad('{ "category": …, "name": … } or null');
      const { category, name } = raw as Record<string, unknown>;
      if (typeof name !== 'string' || !(statusCategories as readonly unknown[]).includes(category)) {
        return bad(`{ "category": one of ${statusCategories.join(', ')}, "name": string }`);
      }
      return { ok: true, value: { category: category as StatusCategory, name } };
    }
  }
}
