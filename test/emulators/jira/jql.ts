/**
 * The subset of JQL that Lockstep sends, parsed and evaluated like Jira Cloud does:
 *   project = X | project in (A, B)
 *   key = X-1 | key in        (also issuekey, id)
 *   status = "In Progress" | statusCategory = Done
 *   updated|created >= "yyyy/MM/dd HH:mm" | "yyyy-MM-dd HH:mm" | "yyyy/MM/dd" | "-15m" | 1714559400000
 *   issue.property[key].path = "v"
 *   clauses joined by AND;  ORDER BY updated|created|key ASC|DESC
 * Dates are minute-precise, as in Jira: the instant is truncated to the minute and read in UTC
 * (every emulated user's time zone is UTC).
 */

export type Operator = '=' | '!=' | '>' | '>=' | '<' | '<=' | 'in' | 'not in';

export interface Clause {
  field: string;
  /** For `issue.property[key].path`: the property key and the dotted path inside its value. */
  property?: { key: string; path: string[] };
  op: Operator;
  values: string[];
  /** Whether each value was a quoted string (an unquoted number on a date field is epoch ms). */
  quoted: boolean[];
}

export interface Query {
  clauses: Clause[];
  orderBy: { field: string; dir: 'ASC' | 'DESC' }[];
}

/** What a clause is evaluated against. */
export interface JqlIssue {
  id: string;
  key: string;
  projectKey: string;
  statusName: string;
  statusCategoryName: string;
  createdMs: number;
  updatedMs: number;
  properties: Map<string, unknown>;
}

export class JqlError extends Error {}

/**
 * JQL that is valid on Jira Cloud but that the emulator does not model (a field Jira has, such as
 * `summary` for a text search, or OR/NOT/parentheses). It is answered as "not emulated", never as
 * a Jira error Jira would not give.
 */
export class JqlNotEmulated extends JqlError {}

/** Jira Cloud's own issue fields (JQL names) that the emulator's search does not model. */
const JIRA_FIELDS_NOT_EMULATED = new Set([
  'summary',
  'description',
  'text',
  'comment',
  'assignee',
  'reporter',
  'creator',
  'priority',
  'labels',
  'duedate',
  'due',
  'resolution',
  'resolved',
  'issuetype',
  'type',
  'parent',
  'sprint',
  'fixversion',
  'component',
  'environment',
  'watcher',
  'voter',
  'statuscategorychangeddate',
  'lastviewed',
]);

const FIELDS = new Set([
  'project',
  'key',
  'issuekey',
  'id',
  'status',
  'statuscategory',
  'updated',
  'created',
  'issue.property',
]);
const DATE_FIELDS = new Set(['updated', 'created']);

type Token = { kind: 'word' | 'string' | 'op' | 'punct'; text: string; pos: number };

function tokenize(jql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < jql.length) {
    const c = jql[i] ?? '';
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let text = '';
      while (j < jql.length && jql[j] !== c) {
        if (jql[j] === '\\' && j + 1 < jql.length) j++;
        text += jql[j];
        j++;
      }
      if (j >= jql.length)
        throw new JqlError(
          `Error in the JQL Query: The quoted string '${text}' has not been completed. (line 1, character ${i + 1})`,
        );
      tokens.push({ kind: 'string', text, pos: i });
      i = j + 1;
      continue;
    }
    const two = jql.slice(i, i + 2);
    if (two === '>=' || two === '<=' || two === '!=') {
      tokens.push({ kind: 'op', text: two, pos: i });
      i += 2;
      continue;
    }
    if (c === '=' || c === '>' || c === '<') {
      tokens.push({ kind: 'op', text: c, pos: i });
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === ',' || c === '[' || c === ']') {
      tokens.push({ kind: 'punct', text: c, pos: i });
      i++;
      continue;
    }
    let j = i;
    while (j < jql.length && !/[\s=!<>(),[\]"']/.test(jql[j] ?? '')) j++;
    tokens.push({ kind: 'word', text: jql.slice(i, j), pos: i });
    i = j;
  }
  return tokens;
}

export function parseJql(jql: string): Query {
  const t = tokenize(jql);
  let p = 0;
  const peek = (): Token | undefined => t[p];
  const fail = (msg: string): never => {
    throw new JqlError(`Error in the JQL Query: ${msg}`);
  };
  const expectPunct = (ch: string): void => {
    const tok = t[p];
    if (tok?.kind !== 'punct' || tok.text !== ch)
      fail(
        `Expecting '${ch}' but got '${tok?.text ?? 'end of query'}'. (line 1, character ${(tok?.pos ?? jql.length) + 1})`,
      );
    p++;
  };
  const isWord = (tok: Token | undefined, w: string): boolean =>
    tok?.kind === 'word' && tok.text.toLowerCase() === w;
  const value = (): { text: string; quoted: boolean } => {
    const tok = t[p];
    if (!tok || (tok.kind !== 'word' && tok.kind !== 'string'))
      return fail(`Expecting either a value, list or function but got '${tok?.text ?? 'end of query'}'.`);
    p++;
    return { text: tok.text, quoted: tok.kind === 'string' };
  };

  const clauses: Clause[] = [];
  const orderBy: Query['orderBy'] = [];
  while (p < t.length && !isWord(peek(), 'order')) {
    if (clauses.length > 0) {
      if (!isWord(peek(), 'and')) {
        const tok = peek();
        // OR, NOT and parentheses are real JQL, but Lockstep never sends them; say so plainly.
        if (isWord(tok, 'or') || isWord(tok, 'not') || tok?.text === '(')
          throw new JqlNotEmulated(
            `the Jira emulator does not model '${tok?.text ?? ''}' in JQL (only AND); Jira Cloud accepts it`,
          );
        fail(`Expecting 'AND', 'OR' or 'ORDER BY' but got '${tok?.text ?? ''}'.`);
      }
      p++;
    }
    const ftok = peek();
    if (ftok?.kind !== 'word' && ftok?.kind !== 'string') return fail('Expecting a field name.');
    p++;
    const field = ftok.text.toLowerCase();
    let property: Clause['property'];
    if (field === 'issue.property') {
      expectPunct('[');
      const key = value().text;
      expectPunct(']');
      const rest = peek();
      let path: string[] = [];
      if (rest?.kind === 'word' && rest.text.startsWith('.')) {
        path = rest.text.slice(1).split('.');
        p++;
      }
      property = { key, path };
    } else if (JIRA_FIELDS_NOT_EMULATED.has(field)) {
      throw new JqlNotEmulated(
        `the Jira emulator does not model the JQL field '${ftok.text}' (it models ${[...FIELDS].join(', ')}); Jira Cloud has it`,
      );
    } else if (!FIELDS.has(field)) {
      throw new JqlError(`Field '${ftok.text}' does not exist or you do not have permission to view it.`);
    }
    let op: Operator;
    const otok = peek();
    if (otok?.kind === 'op') {
      op = otok.text as Operator;
      p++;
    } else if (isWord(otok, 'in')) {
      op = 'in';
      p++;
    } else if (isWord(otok, 'not') && isWord(t[p + 1], 'in')) {
      op = 'not in';
      p += 2;
    } else {
      return fail(
        `Expecting operator but got '${otok?.text ?? 'end of query'}'. (line 1, character ${(otok?.pos ?? jql.length) + 1})`,
      );
    }
    const values: string[] = [];
    const quoted: boolean[] = [];
    if (op === 'in' || op === 'not in') {
      expectPunct('(');
      for (;;) {
        const v = value();
        values.push(v.text);
        quoted.push(v.quoted);
        if (peek()?.text === ',') {
          p++;
          continue;
        }
        break;
      }
      expectPunct(')');
    } else {
      const v = value();
      values.push(v.text);
      quoted.push(v.quoted);
    }
    if (DATE_FIELDS.has(field) && (op === 'in' || op === 'not in'))
      fail(`The operator '${op}' is not supported by the '${field}' field.`);
    if (!DATE_FIELDS.has(field) && ['>', '>=', '<', '<='].includes(op) && field !== 'issue.property')
      fail(`The operator '${op}' is not supported by the '${field}' field.`);
    const clause: Clause = { field, op, values, quoted };
    if (property) clause.property = property;
    if (DATE_FIELDS.has(field))
      for (let i = 0; i < values.length; i++) parseJqlDate(values[i] ?? '', quoted[i] ?? false, 0);
    clauses.push(clause);
  }
  if (isWord(peek(), 'order')) {
    p++;
    if (!isWord(peek(), 'by')) fail("Expecting 'by' after 'order'.");
    p++;
    for (;;) {
      const f = peek();
      if (f?.kind !== 'word') return fail('Expecting a field name after ORDER BY.');
      p++;
      const name = f.text.toLowerCase();
      if (!['updated', 'created', 'key', 'issuekey', 'id'].includes(name))
        throw new JqlError(`The Jira emulator does not support ORDER BY '${f.text}'.`);
      let dir: 'ASC' | 'DESC' = name === 'key' || name === 'issuekey' || name === 'id' ? 'ASC' : 'DESC';
      const d = peek();
      if (isWord(d, 'asc') || isWord(d, 'desc')) {
        dir = d?.text.toUpperCase() as 'ASC' | 'DESC';
        p++;
      }
      orderBy.push({ field: name, dir });
      if (peek()?.text === ',') {
        p++;
        continue;
      }
      break;
    }
  }
  if (p < t.length) fail(`Unexpected '${t[p]?.text ?? ''}'.`);
  return { clauses, orderBy };
}

/**
 * A JQL date value as epoch ms, truncated to the minute like Jira. `nowMs` resolves relative
 * values ("-15m", "-2h", "-1d", "-1w").
 */
export function parseJqlDate(v: string, quoted: boolean, nowMs: number): number {
  const minute = (ms: number): number => Math.floor(ms / 60_000) * 60_000;
  if (!quoted && /^\d+$/.test(v)) return minute(Number(v));
  const rel = /^([-+]?)(\d+)([mhdw])$/.exec(v);
  if (rel) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[rel[3] as 'm' | 'h' | 'd' | 'w'];
    const sign = rel[1] === '-' ? -1 : 1;
    return minute(nowMs + sign * Number(rel[2]) * unit);
  }
  const abs = /^(\d{4})[/-](\d{2})[/-](\d{2})(?: (\d{2}):(\d{2}))?$/.exec(v);
  if (abs) {
    const [, y, mo, d, h, mi] = abs;
    return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0));
  }
  throw new JqlError(
    `Date value '${v}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.`,
  );
}

/** Jira refuses an unbounded query (nothing restricts the result set) on /search/jql. */
export function isBounded(q: Query): boolean {
  return q.clauses.length > 0;
}

export function matches(q: Query, issue: JqlIssue, nowMs: number): boolean {
  return q.clauses.every((c) => matchClause(c, issue, nowMs));
}

function matchClause(c: Clause, issue: JqlIssue, nowMs: number): boolean {
  if (DATE_FIELDS.has(c.field)) {
    const at = parseJqlDate(c.values[0] ?? '', c.quoted[0] ?? false, nowMs);
    const mine = c.field === 'updated' ? issue.updatedMs : issue.createdMs;
    switch (c.op) {
      case '>=':
        return mine >= at;
      case '>':
        // Minute precision: "> 10:30" means from 10:31 on.
        return mine >= at + 60_000;
      case '<=':
        return mine < at + 60_000;
      case '<':
        return mine < at;
      case '=':
        return mine >= at && mine < at + 60_000;
      case '!=':
        return !(mine >= at && mine < at + 60_000);
      default:
        return false;
    }
  }
  const actual = fieldValue(c, issue);
  const eq = (a: string | null, b: string): boolean => a !== null && a.toLowerCase() === b.toLowerCase();
  switch (c.op) {
    case '=':
      return eq(actual, c.values[0] ?? '');
    case '!=':
      return !eq(actual, c.values[0] ?? '');
    case 'in':
      return c.values.some((v) => eq(actual, v));
    case 'not in':
      return !c.values.some((v) => eq(actual, v));
    default: {
      if (actual === null) return false;
      const a = Number(actual);
      const b = Number(c.values[0]);
      if (c.op === '>') return a > b;
      if (c.op === '>=') return a >= b;
      if (c.op === '<') return a < b;
      return a <= b;
    }
  }
}

function fieldValue(c: Clause, issue: JqlIssue): string | null {
  switch (c.field) {
    case 'project':
      return issue.projectKey;
    case 'key':
    case 'issuekey':
      return issue.key;
    case 'id':
      return issue.id;
    case 'status':
      return issue.statusName;
    case 'statuscategory':
      return issue.statusCategoryName;
    case 'issue.property': {
      let v: unknown = issue.properties.get(c.property?.key ?? '');
      for (const seg of c.property?.path ?? []) {
        if (v === null || typeof v !== 'object') return null;
        v = (v as Record<string, unknown>)[seg];
      }
      if (v === undefined || v === null) return null;
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
    }
    default:
      return null;
  }
}

/** Sorts in place. Without ORDER BY the emulator uses created DESC (Jira's own default is not documented for /search/jql). */
export function sortIssues<T extends JqlIssue>(issues: T[], q: Query): T[] {
  const order = q.orderBy.length ? q.orderBy : [{ field: 'created', dir: 'DESC' as const }];
  const num = (i: JqlIssue, f: string): number =>
    f === 'updated' ? i.updatedMs : f === 'created' ? i.createdMs : Number(i.id);
  return issues.sort((a, b) => {
    for (const o of order) {
      const d =
        o.field === 'key' || o.field === 'issuekey'
          ? compareKeys(a.key, b.key)
          : num(a, o.field) - num(b, o.field);
      if (d !== 0) return o.dir === 'ASC' ? d : -d;
    }
    return Number(a.id) - Number(b.id);
  });
}

function compareKeys(a: string, b: string): number {
  const [pa = '', na = '0'] = a.split('-');
  const [pb = '', nb = '0'] = b.split('-');
  return pa === pb ? Number(na) - Number(nb) : pa < pb ? -1 : 1;
}
