/**
 * Visible notes: when a write could not carry a field because its value has no counterpart on the
 * target platform (a person with no user of that email, a status with no transition …), the item
 * itself says so, once, in a comment by Lockstep — naming the field, the value and where it came
 * from, and how to fix it (a `people` entry, the flow's statusMap/priorityMap). Per flow:
 * `flows[].notes: comment | none` (default comment). Two sources: the connector's apply reports a
 * field it could not resolve on the target (`SkippedField` unresolvable), and the reconciler sends a
 * command with the people it could not match at all (`WriteCommand.unresolved`: a person shown
 * without an email and with no `people` entry, left unassigned here).
 *
 * Once: per link + platform + field + value (`noteKey`), durable in Postgres (`item_notes`, the
 * primary key is the key's hash). The note rows are inserted in the transaction that records the
 * write's outcome (store.ts) with `on conflict do nothing`, so later writes, redeliveries, restarts
 * and other replicas add nothing; the row is also the note's outbox. A failed note (its retries
 * spent) is armed again by the next write that meets the same value, and by nothing else.
 *
 * Never in the write's way: the write is recorded and its outcome published before any note is
 * posted. Each egress process posts its own platform's pending notes in the background (one row
 * per transaction, `for update skip locked`, so two replicas never post one note twice), through
 * the connector's `postNote` (the same clients, hence the same request budget), retried with the
 * egress backoff while retriable and at most `egress.maxAttempts` times. A posted or failed note is
 * recorded in the audit log (`noted` / `note_failed`, the comment's id in `detail`).
 *
 * Never mirrored: the comment ends with `lockstep-note:<noteId>` (connectors/kit/notes.ts), by which
 * each connector's normalize drops it, webhook or poll, before it is a change event; and its
 * author is Lockstep's bot user, which the reconciler never mirrors either.
 *
 * Nothing here names a platform: the connector renders the note's paragraphs in its body format.
 */
import { createHash } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { Counter } from 'prom-client';
import type {
  AuditRecord,
  EntityState,
  Person,
  UnresolvedValue,
  WriteCommand,
} from '../../schemas/generated/types.ts';
import { noteMarkerText } from '../connectors/kit/notes.ts';
import type { Applier, ErrorClass, ItemNote, NoteRun, SkippedField } from '../connectors/types.ts';
import { describeSdkError } from '../connectors/types.ts';
import { pgError, type Pool } from '../core/db/index.ts';
import type { Logger } from '../core/logging/index.ts';
import { backoffDelay } from '../core/resilience/index.ts';
import { auditId } from './audit.ts';

/**
 * How long a note waits before it is tried again while the platform refuses the credentials.
 * Notes are not urgent: one request per note every 30 s at most during such an outage.
 */
const CREDENTIALS_HOLD_MS = 30_000;

/** `flows[].notes`: post a comment on the item (default), or leave notes to the audit log. */
export type NotesMode = 'comment' | 'none';

/** A note to post, as a row of `item_notes` holds it until it is posted. */
export interface PendingNote {
  noteId: string;
  linkId: string;
  flowId: string;
  platform: string;
  workspace: string;
  entityType: string;
  targetId: string;
  targetKey: string | null;
  field: string;
  /** The value that could not be carried (JSON), as the command asked for it. */
  valueJson: string;
  /** The note's text, rendered by the connector. */
  paragraphs: NoteRun[][];
  /** The command whose write could not carry the field (the audit record names it). */
  commandId: string;
  cause: WriteCommand['cause'];
}

/** What `noteKey` compares: a person by email (else id), any other value by its JSON. */
function valueKey(field: string, v: unknown): string {
  if ((field === 'assignee' || field === 'author') && v && typeof v === 'object') {
    const p = v as Person;
    return p.email ? `email:${p.email.toLowerCase()}` : `id:${p.platformUserId ?? ''}`;
  }
  if (field === 'status' && v && typeof v === 'object') {
    const s = v as { category?: unknown; name?: unknown };
    return `status:${String(s.category)}:${String(s.name)}`;
  }
  return JSON.stringify(v ?? null);
}

/** The dedupe key's hash: one note per link + platform + field + value. */
export function noteId(linkId: string, platform: string, field: string, value: unknown): string {
  return createHash('sha256')
    .update([linkId, platform, field, valueKey(field, value)].join('\u0000'))
    .digest('hex')
    .slice(0, 32);
}

/** A value as people read it in a note. */
export function describeValue(field: string, v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if ((field === 'assignee' || field === 'author') && typeof v === 'object') {
    const p = v as Person;
    if (p.displayName && p.email) return `${p.displayName} <${p.email}>`;
    return p.email ?? p.displayName ?? `user ${p.platformUserId ?? '?'}`;
  }
  if (field === 'status' && typeof v === 'object') {
    const s = v as { name?: unknown; category?: unknown };
    return `${String(s.name)} (${String(s.category)})`;
  }
  if (Array.isArray(v)) return v.map(String).join(', ');
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export interface NoteWording {
  field: string;
  value: unknown;
  /**
   * Set when the reconciler could not match the value at all (WriteCommand.unresolved): the
   * platform it was read on, by display name, and the person as that platform shows them.
   */
  unmatched?: { platform: string; platformName: string; person: Person } | null;
  /** The field here was written empty (unassigned) rather than left as it was. */
  cleared?: boolean;
  /** The applier's reason (SkippedField.detail). */
  detail: string;
  /** How people write the target platform's name (PlatformFacts.displayName). */
  platformName: string;
  /** The platform name of the command's cause, by display name; null when unknown. */
  fromPlatformName: string | null;
  flowId: string;
  platform: string;
  cause: WriteCommand['cause'];
  noteId: string;
}

const t = (text: string): NoteRun => ({ text });
const code = (text: string): NoteRun => ({ text, style: 'code' });
const strong = (text: string): NoteRun => ({ text, style: 'strong' });

/** How to fix it, per field: where in lockstep.yaml the missing counterpart is named. */
function fix(w: NoteWording): NoteRun[] {
  const { field, platform, flowId } = w;
  if (w.unmatched) {
    // The person is known on the platform they were read on by their user id only: the entry
    // gives that id beside their email (or, for someone with no email anywhere, beside their id here).
    const { person, platformName: from } = w.unmatched;
    const id = `'${person.platformUserId ?? `<their ${from} user id>`}'`;
    return [
      t('To fix it, add an entry to '),
      code('people'),
      t(` in lockstep.yaml with their ${from} user id: `),
      code(`{ email: <their email>, ${w.unmatched.platform}: ${id} }`),
      t(` (someone with no email anywhere: `),
      code(`{ name: …, ${w.unmatched.platform}: ${id}, ${platform}: <their ${w.platformName} user id> }`),
      t(`). The ${field} follows with the item's next change.`),
    ];
  }
  if (field === 'assignee' || field === 'author') {
    const p = (w.value ?? {}) as Person;
    const who = p.email ? `email: ${p.email}, ` : '';
    return [
      t(`To fix it, invite them to ${w.platformName} with that email, or add an entry to `),
      code('people'),
      t(' in lockstep.yaml: '),
      code(`{ ${who}${platform}: <their ${w.platformName} user id> }`),
      t('.'),
    ];
  }
  if (field === 'status')
    return [
      t(`To fix it, add an entry to the `),
      code('statusMap'),
      t(` of flow `),
      code(flowId),
      t(` in lockstep.yaml naming the ${w.platformName} status for this one (`),
      code(`${platform}: <status name>`),
      t(`), or add that status to the ${w.platformName} workflow.`),
    ];
  if (field === 'priority')
    return [
      t(`To fix it, add an entry to the `),
      code('priorityMap'),
      t(` of flow `),
      code(flowId),
      t(` in lockstep.yaml (`),
      code(`${platform}: <priority>`),
      t(').'),
    ];
  return [t(`To fix it, make the value exist in ${w.platformName}; Lockstep carries it on the next change.`)];
}

/** Where the value came from, in words: "Jira ENG-7 (changed by Carol)". */
function origin(w: NoteWording): string | null {
  const c = w.cause;
  if (!c || !c.platform) return null;
  const item = c.entityKey ?? c.entityId;
  const who = c.actor && !c.actorIsLockstep ? (c.actor.displayName ?? c.actor.email) : null;
  return `${w.fromPlatformName ?? c.platform}${item ? ` ${item}` : ''}${who ? ` (set by ${who})` : ''}`;
}

/** The note's paragraphs. Pure. */
export function noteParagraphs(w: NoteWording): NoteRun[][] {
  const from = origin(w);
  const left = w.cleared ? `is left unassigned` : `was left as it was`;
  const value = w.unmatched
    ? `${w.unmatched.person.displayName ?? 'a person'} (${w.unmatched.platformName} user ${w.unmatched.person.platformUserId ?? '?'})`
    : describeValue(w.field, w.value);
  const why = w.unmatched
    ? `, and Lockstep cannot tell who that is in ${w.platformName}: ${w.detail}. The ${w.field} here ${left}.`
    : `, and has no counterpart in ${w.platformName}: ${w.detail}. The ${w.field} here ${left}.`;
  return [
    [strong('Lockstep could not sync the '), strong(w.field), strong(` of this ${w.platformName} item.`)],
    [t('The value '), code(value), ...(from ? [t(` comes from ${from}`)] : []), t(why)],
    fix(w),
    [t('Lockstep writes this note once for this value. '), t(noteMarkerText(w.noteId))],
  ];
}

/**
 * The notes one applied write calls for: one per field the connector could not resolve, and one per
 * person the reconciler could not match (`cmd.unresolved`); none when the flow says `none`.
 */
export function notesFor(
  cmd: WriteCommand,
  target: { targetId: string; targetKey: string | null },
  skipped: SkippedField[],
  names: { platformName: string; nameOf(platform: string): string | null },
): PendingNote[] {
  // Only items get notes: a comment that cannot carry a field (its author) is not commented on.
  if (cmd.entityType === 'comment' || cmd.action === 'delete' || !target.targetId) return [];
  const seen = new Set<string>();
  const out: PendingNote[] = [];
  const uncarried: { field: string; detail: string; unmatched: UnresolvedValue | null }[] = [
    ...skipped
      .filter((s) => s.reason === 'unresolvable')
      .map((s) => ({ field: s.field, detail: s.detail, unmatched: null })),
    ...cmd.unresolved.map((u) => ({ field: u.field, detail: u.reason, unmatched: u })),
  ];
  for (const s of uncarried) {
    if (seen.has(s.field)) continue;
    seen.add(s.field);
    const written = cmd.fields.known.includes(s.field) ? cmd.fields[s.field as keyof EntityState] : null;
    // A person the reconciler could not match is noted by who they are where they were read (their
    // user id there): once per person, whatever else the item goes through.
    const value = s.unmatched ? s.unmatched.person : written;
    const unmatched = s.unmatched?.person
      ? {
          platform: s.unmatched.platform,
          platformName: names.nameOf(s.unmatched.platform) ?? s.unmatched.platform,
          person: s.unmatched.person,
        }
      : null;
    const id = noteId(cmd.linkId, cmd.platform, s.field, value);
    out.push({
      noteId: id,
      linkId: cmd.linkId,
      flowId: cmd.flowId,
      platform: cmd.platform,
      workspace: cmd.workspace,
      entityType: cmd.entityType,
      targetId: target.targetId,
      targetKey: target.targetKey,
      field: s.field,
      valueJson: JSON.stringify(value ?? null),
      commandId: cmd.commandId,
      cause: cmd.cause,
      paragraphs: noteParagraphs({
        field: s.field,
        value,
        unmatched,
        cleared: s.unmatched !== null && cmd.fields.known.includes(s.field) && written === null,
        detail: s.detail,
        platformName: names.platformName,
        fromPlatformName: cmd.cause?.platform ? names.nameOf(cmd.cause.platform) : null,
        flowId: cmd.flowId,
        platform: cmd.platform,
        cause: cmd.cause,
        noteId: id,
      }),
    });
  }
  return out;
}

/**
 * Inserts the notes inside the caller's transaction (the one recording the write). A note already
 * there is kept as it is — that is "once" — unless it failed for good, which a new write of the same
 * value arms again.
 */
export async function insertNotes(client: PoolClient, notes: PendingNote[]): Promise<void> {
  if (notes.length === 0) return;
  await client.query(
    `insert into item_notes (note_id, link_id, flow_id, platform, target_id, target_key, field, value_json, note)
     select n->>'noteId', n->>'linkId', n->>'flowId', n->>'platform', n->>'targetId', n->>'targetKey',
            n->>'field', n->>'valueJson', n
       from jsonb_array_elements($1::jsonb) as n
     on conflict (note_id) do update
        set status = 'pending', attempts = 0, next_attempt_at = now(), note = excluded.note, last_error = null
      where item_notes.status = 'failed'`,
    [JSON.stringify(notes)],
  );
}

/** Notes on items of one platform by state, and the reason the latest failed one gave. */
export interface NoteCounts {
  pending: number;
  posted: number;
  failed: number;
  lastError?: string;
}

/**
 * The notes recorded per platform by state, and the reason the latest failed one of each platform
 * gave (`lockstep report`).
 */
export async function noteCounts(pool: Pool): Promise<Record<string, NoteCounts>> {
  const counts = await pool.query<{ platform: string; status: string; n: number }>(
    'select platform, status, count(*)::int as n from item_notes group by platform, status order by platform',
  );
  const last = await pool.query<{ platform: string; last_error: string | null }>(
    `select distinct on (platform) platform, last_error from item_notes
      where status = 'failed' order by platform, created_at desc`,
  );
  const out: Record<string, NoteCounts> = {};
  for (const r of counts.rows) {
    const c = (out[r.platform] ??= { pending: 0, posted: 0, failed: 0 });
    if (r.status === 'pending' || r.status === 'posted' || r.status === 'failed') c[r.status] = r.n;
  }
  for (const r of last.rows) if (r.last_error && out[r.platform]) out[r.platform]!.lastError = r.last_error;
  return out;
}

/** The audit record of a note: posted (`noted`) or given up (`note_failed`). Pure. */
export function noteAuditRecord(
  n: PendingNote,
  outcome: { posted: true; commentId: string } | { posted: false; error: string },
  nowMs: number,
): AuditRecord {
  return {
    auditId: auditId(n.noteId, outcome.posted ? 'note' : `note_failed:${nowMs}`),
    tsMs: nowMs,
    commandId: n.commandId,
    coalesced: [],
    linkId: n.linkId,
    flowId: n.flowId,
    platform: n.platform,
    workspace: n.workspace,
    entityType: n.entityType,
    action: 'note',
    targetId: n.targetId,
    targetKey: n.targetKey,
    field: n.field,
    result: outcome.posted ? 'noted' : 'note_failed',
    beforeJson: null,
    afterJson: n.valueJson,
    detail: outcome.posted
      ? `Lockstep commented on the item (comment ${outcome.commentId}) that this value could not be carried (note ${n.noteId})`
      : `posting the note that this value could not be carried failed: ${outcome.error} (note ${n.noteId})`,
    cause: n.cause,
    traceId: null,
  };
}

export interface NotesDeps {
  pool: Pool;
  platform: string;
  applier: Pick<Applier, 'postNote'>;
  classify(err: unknown): ErrorClass;
  describe?(err: unknown): string;
  /** Inserts audit records in the caller's transaction (audit.ts). */
  insertAudit(client: PoolClient, records: AuditRecord[]): Promise<void>;
  /** Called after a transaction that wrote audit records commits (wakes the audit relay). */
  onAudited?(): void;
  /** False while the platform's breaker is open: notes wait like writes do. */
  allowed(): boolean;
  retry: { maxAttempts: number; baseMs: number; maxMs: number };
  logger: Logger;
  notes?: Counter<'platform' | 'result'>;
  now?: () => number;
}

/**
 * Posts the oldest due note of this platform, if any; resolves true when there was one. The row
 * is locked for the post and marked in the same transaction, with the note's audit record.
 */
export async function postNextNote(d: NotesDeps): Promise<boolean> {
  const now = d.now ?? Date.now;
  const client = await d.pool.connect().catch((err: unknown) => {
    throw pgError('connecting to post notes', err);
  });
  let ok = false;
  let audited = false;
  try {
    await client.query('begin');
    const rows = await client.query<{ note_id: string; attempts: number; note: PendingNote }>(
      `select note_id, attempts, note from item_notes
        where platform = $1 and status = 'pending' and next_attempt_at <= now()
        order by next_attempt_at limit 1 for update skip locked`,
      [d.platform],
    );
    const row = rows.rows[0];
    if (!row) {
      await client.query('commit');
      ok = true;
      return false;
    }
    const n = row.note;
    try {
      if (!d.applier.postNote) throw new Error(`${d.platform} cannot post notes`);
      const posted = await d.applier.postNote({
        noteId: n.noteId,
        entityType: n.entityType as ItemNote['entityType'],
        targetId: n.targetId,
        targetKey: n.targetKey,
        paragraphs: n.paragraphs,
      });
      await client.query(
        `update item_notes set status = 'posted', comment_id = $2, posted_at = now(), attempts = attempts + 1,
                last_error = null where note_id = $1`,
        [n.noteId, posted.commentId],
      );
      await d.insertAudit(client, [noteAuditRecord(n, { posted: true, commentId: posted.commentId }, now())]);
      audited = true;
      d.notes?.inc({ platform: d.platform, result: posted.alreadyPosted ? 'already_posted' : 'posted' });
      d.logger.info(
        { platform: d.platform, noteId: n.noteId, field: n.field, target: n.targetKey ?? n.targetId },
        'posted a note on the item: a field could not be carried',
      );
    } catch (err) {
      const c = d.classify(err);
      const message = (d.describe ?? describeSdkError)(err);
      if (c.credentialsRefused === true) {
        // The platform refuses Lockstep's credentials (revoked, expired): an outage, not this
        // note's fault. Not an attempt: the note waits, as egress holds writes, until the
        // credentials are accepted again (egress's lockstep_egress_credentials_refused says so).
        const delay = Math.max(CREDENTIALS_HOLD_MS, c.retryAfterMs ?? 0);
        await client.query(
          `update item_notes set last_error = $2,
                  next_attempt_at = now() + make_interval(secs => $3::double precision / 1000) where note_id = $1`,
          [n.noteId, message, delay],
        );
        d.notes?.inc({ platform: d.platform, result: 'held' });
        d.logger.warn(
          { platform: d.platform, noteId: n.noteId, retryInMs: delay, err: message },
          'posting a note: the platform refuses the credentials; the note waits for them (not an attempt)',
        );
        await client.query('commit');
        ok = true;
        return true;
      }
      const attempts = row.attempts + 1;
      if (c.retriable && attempts < d.retry.maxAttempts) {
        const delay = backoffDelay(attempts - 1, d.retry, c.retryAfterMs);
        await client.query(
          `update item_notes set attempts = $2, last_error = $3,
                  next_attempt_at = now() + make_interval(secs => $4::double precision / 1000) where note_id = $1`,
          [n.noteId, attempts, message, delay],
        );
        d.notes?.inc({ platform: d.platform, result: 'retried' });
        d.logger.warn(
          {
            platform: d.platform,
            noteId: n.noteId,
            category: c.category,
            attempts,
            retryInMs: delay,
            err: message,
          },
          'posting a note failed; retrying (the write itself is done)',
        );
      } else {
        await client.query(
          `update item_notes set status = 'failed', attempts = $2, last_error = $3 where note_id = $1`,
          [n.noteId, attempts, message],
        );
        await d.insertAudit(client, [noteAuditRecord(n, { posted: false, error: message }, now())]);
        audited = true;
        d.notes?.inc({ platform: d.platform, result: 'failed' });
        d.logger.error(
          { platform: d.platform, noteId: n.noteId, category: c.category, attempts, err: message },
          'posting a note failed for good (the write itself is done; the audit log has the field)',
        );
      }
    }
    await client.query('commit');
    ok = true;
    if (audited) d.onAudited?.();
    return true;
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw pgError('posting a note', err);
  } finally {
    client.release(ok ? undefined : true);
  }
}

/**
 * Runs the notes outbox until stopped: woken after each write that recorded notes, and every
 * `idleMs`. Failures of Postgres are logged and retried with backoff; they never touch writes.
 */
export function startNotesLoop(d: NotesDeps, idleMs = 1000): { wake(): void; stop(): Promise<void> } {
  let stopping = false;
  let wake: (() => void) | null = null;
  const loop = (async () => {
    let failures = 0;
    while (!stopping) {
      let posted = false;
      if (d.allowed()) {
        try {
          posted = await postNextNote(d);
          failures = 0;
        } catch (err) {
          failures++;
          d.logger.warn({ err: String(err), failures }, 'reading the notes outbox failed; will retry');
        }
      }
      if (posted && !stopping) continue;
      const idle = failures > 0 ? backoffDelay(failures, { baseMs: 200, maxMs: 10_000 }) : idleMs;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, idle);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  })();
  return {
    wake: () => wake?.(),
    async stop() {
      stopping = true;
      wake?.();
      await loop;
    },
  };
}
