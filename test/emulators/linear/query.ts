/**
 * Reading the workspace the way Linear's API does: relay connections with opaque keyset cursors,
 * `orderBy` createdAt|updatedAt, `includeArchived`, and the filter language (comparators,
 * and/or, relation filters, some/every/none on collections) evaluated over filter records.
 */
import { argumentValidation, unsupported } from './errors.ts';

export interface ConnectionArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
  orderBy?: 'createdAt' | 'updatedAt' | null;
  includeArchived?: boolean | null;
  filter?: Record<string, unknown> | null;
}

export interface Listable {
  id: string;
  createdAt: string;
  updatedAt: string;
  archivedAt?: string | null;
}

/** A record the filter language walks: scalars, nested records (relations) and arrays (collections). */
export type FilterRecord = { [k: string]: unknown };

const DEFAULT_PAGE = 50;

/**
 * Linear pages newest first: results are sorted by `orderBy` (default createdAt) descending,
 * ties broken by id. Cursors encode (sort value, id), so a page boundary stays put when the
 * node behind it changes.
 */
export function connection<T extends Listable>(
  items: Iterable<T>,
  args: ConnectionArgs,
  opts: { record: (t: T) => FilterRecord; view: (t: T) => unknown; now: () => number },
): { nodes: unknown[]; edges: { node: unknown; cursor: string }[]; pageInfo: PageInfo } {
  const key = args.orderBy ?? 'createdAt';
  let list = [...items];
  if (!args.includeArchived) list = list.filter((t) => !t.archivedAt);
  if (args.filter) {
    const filter = args.filter;
    list = list.filter((t) => matches(opts.record(t), filter, '', opts.now));
  }
  list.sort((a, b) => compareDesc([a[key], a.id], [b[key], b.id]));

  let start = 0;
  let end = list.length;
  if (args.after) {
    const c = decodeCursor(args.after);
    start = list.findIndex((t) => compareDesc([t[key], t.id], c) > 0);
    if (start < 0) start = list.length;
  }
  if (args.before) {
    const c = decodeCursor(args.before);
    const idx = list.findIndex((t) => compareDesc([t[key], t.id], c) >= 0);
    end = idx < 0 ? list.length : idx;
  }
  if (args.first != null && args.first < 0) throw argumentValidation('first must not be less than 0.');
  if (args.last != null && args.last < 0) throw argumentValidation('last must not be less than 0.');
  let window = list.slice(start, end);
  let hasNextPage = end < list.length;
  let hasPreviousPage = start > 0;
  if (args.last != null && args.first == null) {
    if (window.length > args.last) {
      window = window.slice(window.length - args.last);
      hasPreviousPage = true;
    }
  } else {
    const first = args.first ?? DEFAULT_PAGE;
    if (window.length > first) {
      window = window.slice(0, first);
      hasNextPage = true;
    }
  }
  const edges = window.map((t) => ({ node: opts.view(t), cursor: encodeCursor([t[key], t.id]) }));
  return {
    nodes: edges.map((e) => e.node),
    edges,
    pageInfo: {
      hasNextPage,
      hasPreviousPage,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

export interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

type CursorKey = [unknown, string];

function compareDesc(a: CursorKey, b: CursorKey): number {
  const av = String(a[0]);
  const bv = String(b[0]);
  if (av !== bv) return av < bv ? 1 : -1;
  return a[1] === b[1] ? 0 : a[1] < b[1] ? 1 : -1;
}

function encodeCursor(k: CursorKey): string {
  return Buffer.from(JSON.stringify(k)).toString('base64url');
}

function decodeCursor(c: string): CursorKey {
  try {
    const v: unknown = JSON.parse(Buffer.from(c, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[1] === 'string') return [v[0], v[1]];
  } catch {
    // fall through
  }
  throw argumentValidation('Invalid cursor.');
}

const SCALAR_OPS = new Set([
  'eq',
  'neq',
  'in',
  'nin',
  'lt',
  'lte',
  'gt',
  'gte',
  'null',
  'contains',
  'notContains',
  'containsIgnoreCase',
  'notContainsIgnoreCase',
  'startsWith',
  'notStartsWith',
  'endsWith',
  'notEndsWith',
  'eqIgnoreCase',
  'neqIgnoreCase',
]);

/** Evaluates one Linear filter object against a record. Unknown keys fail loudly (never ignored). */
export function matches(
  rec: FilterRecord,
  filter: Record<string, unknown>,
  path: string,
  now: () => number,
): boolean {
  for (const [k, cond] of Object.entries(filter)) {
    if (cond === null || cond === undefined) continue;
    const where = path ? `${path}.${k}` : k;
    if (k === 'and') {
      if (!(cond as Record<string, unknown>[]).every((f) => matches(rec, f, path, now))) return false;
      continue;
    }
    if (k === 'or') {
      if (!(cond as Record<string, unknown>[]).some((f) => matches(rec, f, path, now))) return false;
      continue;
    }
    if (!(k in rec)) throw unsupported(`the filter field ${where}`);
    const value = rec[k];
    const c = cond as Record<string, unknown>;
    if (Array.isArray(value)) {
      if (!collectionMatches(value as FilterRecord[], c, where, now)) return false;
    } else if (Object.keys(c).every((op) => SCALAR_OPS.has(op)) && !isRecord(value)) {
      if (!scalarMatches(value, c, where, now)) return false;
    } else {
      // A relation: `null` tests presence, the other keys filter the related record.
      const { null: isNull, ...rest } = c;
      if (isNull !== undefined && (value === null) !== isNull) return false;
      if (Object.keys(rest).length > 0) {
        if (value === null || value === undefined) return false;
        if (!matches(value as FilterRecord, rest, where, now)) return false;
      }
    }
  }
  return true;
}

function isRecord(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function collectionMatches(
  items: FilterRecord[],
  c: Record<string, unknown>,
  where: string,
  now: () => number,
): boolean {
  for (const [op, sub] of Object.entries(c)) {
    if (sub === null || sub === undefined) continue;
    const f = sub as Record<string, unknown>;
    if (op === 'some') {
      if (!items.some((i) => matches(i, f, where, now))) return false;
    } else if (op === 'every') {
      if (!items.every((i) => matches(i, f, where, now))) return false;
    } else if (op === 'none') {
      if (items.some((i) => matches(i, f, where, now))) return false;
    } else if (op === 'length') {
      if (!scalarMatches(items.length, f, `${where}.length`, now)) return false;
    } else if (op === 'and' || op === 'or') {
      const parts = sub as Record<string, unknown>[];
      const ok = (p: Record<string, unknown>): boolean => collectionMatches(items, p, where, now);
      if (op === 'and' ? !parts.every(ok) : !parts.some(ok)) return false;
    } else throw unsupported(`the collection filter ${where}.${op}`);
  }
  return true;
}

function scalarMatches(
  value: unknown,
  c: Record<string, unknown>,
  where: string,
  now: () => number,
): boolean {
  const norm = (v: unknown): unknown => (typeof v === 'string' ? toComparable(v, now) : v);
  const left = value === null || value === undefined ? null : norm(value);
  for (const [op, raw] of Object.entries(c)) {
    if (raw === undefined) continue;
    const lower = (v: unknown): string => String(v).toLowerCase();
    switch (op) {
      case 'null':
        if ((left === null) !== raw) return false;
        break;
      case 'eq':
        if (left !== norm(raw)) return false;
        break;
      case 'neq':
        if (left === norm(raw)) return false;
        break;
      case 'in':
        if (!(raw as unknown[]).map(norm).includes(left)) return false;
        break;
      case 'nin':
        if ((raw as unknown[]).map(norm).includes(left)) return false;
        break;
      case 'lt':
      case 'lte':
      case 'gt':
      case 'gte': {
        if (left === null) return false;
        const r = norm(raw) as number | string;
        const l = left as number | string;
        const ok = op === 'lt' ? l < r : op === 'lte' ? l <= r : op === 'gt' ? l > r : l >= r;
        if (!ok) return false;
        break;
      }
      case 'contains':
        if (left === null || !String(left).includes(String(raw))) return false;
        break;
      case 'notContains':
        if (left !== null && String(left).includes(String(raw))) return false;
        break;
      case 'containsIgnoreCase':
        if (left === null || !lower(left).includes(lower(raw))) return false;
        break;
      case 'notContainsIgnoreCase':
        if (left !== null && lower(left).includes(lower(raw))) return false;
        break;
      case 'startsWith':
        if (left === null || !String(left).startsWith(String(raw))) return false;
        break;
      case 'notStartsWith':
        if (left !== null && String(left).startsWith(String(raw))) return false;
        break;
      case 'endsWith':
        if (left === null || !String(left).endsWith(String(raw))) return false;
        break;
      case 'notEndsWith':
        if (left !== null && String(left).endsWith(String(raw))) return false;
        break;
      case 'eqIgnoreCase':
        if (left === null || lower(left) !== lower(raw)) return false;
        break;
      case 'neqIgnoreCase':
        if (left !== null && lower(left) === lower(raw)) return false;
        break;
      default:
        throw unsupported(`the comparator ${where}.${op}`);
    }
  }
  return true;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
const DURATION =
  /^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * Instants compare as epoch ms; ISO-8601 durations ("-P2W", Linear's relative dates) resolve
 * against now; anything else compares as it is.
 */
function toComparable(v: string, now: () => number): string | number {
  if (ISO_INSTANT.test(v)) {
    const ms = Date.parse(v);
    if (!Number.isNaN(ms)) return ms;
  }
  const d = DURATION.exec(v);
  if (d && v !== 'P' && v !== '-P') {
    const n = (i: number): number => Number(d[i] ?? 0);
    const ms =
      n(2) * 365 * 86_400_000 +
      n(3) * 30 * 86_400_000 +
      n(4) * 7 * 86_400_000 +
      n(5) * 86_400_000 +
      n(6) * 3_600_000 +
      n(7) * 60_000 +
      n(8) * 1000;
    return now() + (d[1] ? -ms : ms);
  }
  return v;
}
