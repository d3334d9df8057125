/**
 * The audit log: one record per field of every write egress makes (and of every field it was asked
 * to write and did not, with the reason), answering "who or what changed this, and why".
 *
 * Exactly once per write: the records are inserted in the same Postgres transaction as the
 * command's applied record (`egress_applied`, store.ts), keyed by a deterministic id (command id +
 * field) with `on conflict do nothing`. A redelivered or replayed command finds its applied record
 * and is not applied again, so it writes no audit record; and if two attempts ever raced, the key
 * would keep one. A recorded failure writes none (nothing was written).
 *
 * Published from Postgres: `audit_log.published_at` is the outbox. Each egress process drains its
 * own platform's unpublished rows to `lockstep.audit.v1` (Avro, `AuditRecord`), so a Kafka outage
 * delays the topic and loses nothing. At least once: a crash between the produce and the mark
 * publishes a record again, with the same `auditId` for consumers to drop.
 *
 * Retention: rows older than `audit.retentionDays` are deleted by each egress process for its
 * platform, every `audit.pruneIntervalMs`, in batches.
 *
 * Nothing here names a platform: the connector's applier reports what it read before the write
 * (`ApplyResult.before`) and what it skipped, and this module turns that into records.
 */
import { createHash } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { Counter } from 'prom-client';
import type { AuditRecord, AuditResult, EntityState, WriteCommand } from '../../schemas/generated/types.ts';
import type { ApplyResult } from '../connectors/types.ts';
import { sameFieldValue } from '../connectors/types.ts';
import { pgError, type Pool } from '../core/db/index.ts';
import type { Logger } from '../core/logging/index.ts';
import { backoffDelay } from '../core/resilience/index.ts';

/** The `field` of the one record a delete makes: the whole item. */
export const WHOLE_ITEM = '*';

export function auditId(commandId: string, field: string): string {
  return createHash('sha256').update(`${commandId}\u0000${field}`).digest('hex').slice(0, 32);
}

export interface AuditInput {
  /** The command as applied (for a coalesced group, the folded one). */
  cmd: WriteCommand;
  /** Every command the write covered, in order (one unless coalesced); each field is credited to the last that set it. */
  parts: WriteCommand[];
  result: ApplyResult;
  traceId: string | null;
  nowMs: number;
}

const valueJson = (s: EntityState | null | undefined, field: string): string | null =>
  s && s.known.includes(field) ? JSON.stringify(s[field as keyof EntityState] ?? null) : null;

/**
 * The audit records of one applied write. Pure. For each field the command carries: `written`
 * with before (the applier's read) and after (what the platform holds now); `already_held` when the
 * platform held the value before and after (a repeat: nothing changed); or the applier's reason
 * for not writing it (`stale_base`, `unresolvable`, `follow_up_failed`). A delete is one record.
 */
export function auditRecords(input: AuditInput): AuditRecord[] {
  const { cmd, parts, result: r } = input;
  const ids = parts.map((p) => p.commandId);
  const base = (field: string, owner: WriteCommand) => ({
    auditId: auditId(owner.commandId, field),
    tsMs: input.nowMs,
    commandId: owner.commandId,
    coalesced: ids.filter((id) => id !== owner.commandId),
    linkId: cmd.linkId,
    flowId: cmd.flowId,
    platform: cmd.platform,
    workspace: cmd.workspace,
    entityType: cmd.entityType,
    action: cmd.action,
    targetId: r.targetId || cmd.targetId,
    targetKey: r.targetKey,
    field,
    cause: owner.cause,
    traceId: input.traceId,
  });
  const ownerOf = (field: string): WriteCommand =>
    parts.findLast((p) => p.fields.known.includes(field)) ?? parts.at(-1) ?? cmd;

  if (cmd.action === 'delete')
    return [
      {
        ...base(WHOLE_ITEM, ownerOf(WHOLE_ITEM)),
        result: 'deleted',
        beforeJson: null,
        afterJson: null,
        detail: null,
      },
    ];
  const before = cmd.action === 'create' ? null : (r.before ?? null);
  const skippedBy = new Map(r.skipped.map((s) => [s.field, s]));
  const fields = [
    ...cmd.fields.known,
    ...r.skipped.map((s) => s.field).filter((f) => !cmd.fields.known.includes(f)),
  ];
  return fields.map((field): AuditRecord => {
    const skip = skippedBy.get(field);
    if (skip)
      return {
        ...base(field, ownerOf(field)),
        result: skip.reason satisfies AuditResult,
        beforeJson: valueJson(before, field),
        afterJson: valueJson(cmd.fields, field),
        detail: skip.detail,
      };
    const after = r.written?.known.includes(field) ? r.written : cmd.fields;
    const held =
      before !== null &&
      before.known.includes(field) &&
      after.known.includes(field) &&
      sameFieldValue(field, before, after);
    return {
      ...base(field, ownerOf(field)),
      result: held ? 'already_held' : 'written',
      beforeJson: valueJson(before, field),
      afterJson: valueJson(after, field),
      detail:
        cmd.action === 'create' && r.alreadyApplied
          ? 'the item was found by its create marker: an earlier attempt made it and its answer was lost'
          : null,
    };
  });
}

/** Inserts the records inside the caller's transaction; a record already there is kept. */
export async function insertAuditRecords(client: PoolClient, records: AuditRecord[]): Promise<void> {
  if (records.length === 0) return;
  await client.query(
    `insert into audit_log (audit_id, command_id, platform, target_id, target_key, link_id, flow_id, field, recorded_at, record)
     select r->>'auditId', r->>'commandId', r->>'platform', r->>'targetId', r->>'targetKey', r->>'linkId',
            r->>'flowId', r->>'field', to_timestamp((r->>'tsMs')::bigint / 1000.0), r
       from jsonb_array_elements($1::jsonb) as r
     on conflict (audit_id) do nothing`,
    [JSON.stringify(records)],
  );
}

export interface AuditFilter {
  /** `<platform>:<key or id>` of the item written (ENG-12 or the platform's id). */
  item?: { platform: string; ref: string };
  linkId?: string;
  sinceMs?: number;
  limit?: number;
}

/** `--item jira:ENG-12` → { platform, ref }; a clear error for anything else. */
export function parseItem(v: string): { platform: string; ref: string } {
  const i = v.indexOf(':');
  if (i <= 0 || i === v.length - 1) throw new Error(`--item must be <platform>:<key or id>, got ${v}`);
  return { platform: v.slice(0, i), ref: v.slice(i + 1) };
}

/** `--since`: a duration ago (30m, 2h, 7d) or a date/time. */
export function parseSince(v: string, nowMs: number, flag = '--since'): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(v);
  if (m) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return nowMs - Number(m[1]) * unit;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new Error(`${flag} must be a duration (30m, 2h, 7d) or a date/time, got ${v}`);
  return t;
}

/**
 * The audit records matching the filter, oldest first. `--item` also finds the writes to the other
 * sides of the item's links, because "why did this change" is often answered on the other side:
 * the records of the links the item was written under come too.
 */
export async function queryAudit(pool: Pool, f: AuditFilter): Promise<AuditRecord[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (f.item) {
    const plat = p(f.item.platform);
    const ref = p(f.item.ref);
    where.push(`platform = ${plat} and (target_key = ${ref} or target_id = ${ref})`);
  }
  if (f.linkId !== undefined) where.push(`link_id = ${p(f.linkId)}`);
  if (f.sinceMs !== undefined) where.push(`recorded_at >= to_timestamp(${p(f.sinceMs)}::bigint / 1000.0)`);
  const sql = `select record from audit_log ${where.length ? `where ${where.join(' and ')}` : ''}
                order by recorded_at, id limit ${p(f.limit ?? 10_000)}`;
  const r = await pool.query<{ record: AuditRecord }>(sql, params).catch((err: unknown) => {
    throw pgError('reading the audit log', err);
  });
  return r.rows.map((row) => row.record);
}

const show = (json: string | null): string => {
  if (json === null) return '—';
  const v: unknown = JSON.parse(json);
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}…` : v);
  if (typeof v === 'object' && v !== null && 'category' in v && 'name' in v)
    return `${String((v as { name: unknown }).name)} (${String((v as { category: unknown }).category)})`;
  if (typeof v === 'object' && v !== null && ('email' in v || 'displayName' in v)) {
    const person = v as { email?: unknown; displayName?: unknown; platformUserId?: unknown };
    return String(person.email ?? person.displayName ?? person.platformUserId ?? 'someone');
  }
  return JSON.stringify(v);
};

/** Who made the causing change, in words. */
export function describeCause(rec: AuditRecord): string {
  const c = rec.cause;
  if (!c) return 'cause not recorded';
  const who = c.actor ? (c.actor.email ?? c.actor.displayName ?? c.actor.platformUserId ?? 'someone') : null;
  const at = c.changedAtMs !== null ? ` at ${new Date(c.changedAtMs).toISOString()}` : '';
  if (c.kind === 'event')
    return `${who ?? (c.actorIsLockstep ? 'Lockstep' : 'someone')} changed ${c.platform ?? '?'} ${c.entityKey ?? c.entityId ?? '?'}${at} (event ${c.ref}${c.via ? `, via ${c.via}` : ''})`;
  if (c.kind === 'resolve') return `${who ?? 'someone'} resolved conflict ${c.ref}${at}`;
  if (c.kind === 'outcome')
    return `the outcome of Lockstep's write ${c.ref} to ${c.platform ?? '?'} ${c.entityKey ?? c.entityId ?? ''}${at}`.trimEnd();
  if (c.kind === 'backfill')
    return `lockstep backfill paired this item with its counterpart${at} (link ${c.ref}): the field differed`;
  if (c.kind === 'rollback')
    return `${who ?? 'someone'} put back what ${c.platform ?? '?'} held before Lockstep's writes${at} (lockstep rollback; undid up to audit record ${c.ref})`;
  return `${c.kind} ${c.ref}`;
}

/** One record as a line for people (the JSON form is the record itself). */
export function formatAuditRecord(rec: AuditRecord): string {
  const item = `${rec.platform}:${rec.targetKey ?? rec.targetId ?? '?'}`;
  const what =
    rec.result === 'deleted'
      ? 'deleted'
      : rec.result === 'noted' || rec.result === 'note_failed'
        ? `${rec.result === 'noted' ? 'noted on the item' : 'note failed'}: could not carry ${show(rec.afterJson)}${rec.detail ? ` — ${rec.detail}` : ''}`
        : rec.result === 'written'
          ? `${show(rec.beforeJson)} → ${show(rec.afterJson)}`
          : `${rec.result.replace('_', ' ')}: not written ${show(rec.afterJson)}${rec.beforeJson !== null ? ` (holds ${show(rec.beforeJson)})` : ''}${rec.detail ? ` — ${rec.detail}` : ''}`;
  return [
    `${new Date(rec.tsMs).toISOString()}  ${item}  ${rec.action} ${rec.field}: ${what}`,
    `    because ${describeCause(rec)}`,
    `    command ${rec.commandId}  link ${rec.linkId}  trace ${rec.traceId ?? '—'}`,
  ].join('\n');
}

export interface AuditRelayDeps {
  pool: Pool;
  /** Only this platform's rows: each egress process publishes what it wrote. */
  platform: string;
  publish(rec: AuditRecord): Promise<void>;
  logger: Logger;
  published?: Counter<'platform'>;
  batchSize?: number;
}

/**
 * Publishes one batch of unpublished rows, oldest first, and marks them; resolves the count. The
 * rows stay locked (`skip locked`) until the marks commit, so two replicas never publish one row
 * twice; a produce that fails rolls the batch back and it is tried again.
 */
export async function publishAuditBatch(d: AuditRelayDeps): Promise<number> {
  const client = await d.pool.connect().catch((err: unknown) => {
    throw pgError('connecting to publish the audit log', err);
  });
  let ok = false;
  try {
    await client.query('begin');
    const rows = await client.query<{ id: string; record: AuditRecord }>(
      `select id, record from audit_log where platform = $1 and published_at is null
        order by id limit $2 for update skip locked`,
      [d.platform, d.batchSize ?? 100],
    );
    for (const row of rows.rows) await d.publish(row.record);
    if (rows.rows.length > 0)
      await client.query('update audit_log set published_at = now() where id = any($1::bigint[])', [
        rows.rows.map((r) => r.id),
      ]);
    await client.query('commit');
    ok = true;
    d.published?.inc({ platform: d.platform }, rows.rows.length);
    return rows.rows.length;
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    client.release(ok ? undefined : true);
  }
}

/** Deletes this platform's rows recorded before the cutoff, `batchSize` per statement. */
export async function pruneAudit(
  pool: Pool,
  platform: string,
  cutoff: Date,
  batchSize = 1000,
): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await pool
      .query(
        `delete from audit_log where id = any(array(
           select id from audit_log where platform = $1 and recorded_at < $2 order by id limit $3))`,
        [platform, cutoff, batchSize],
      )
      .catch((err: unknown) => {
        throw pgError('pruning the audit log', err);
      });
    const n = r.rowCount ?? 0;
    total += n;
    if (n < batchSize) return total;
  }
}

export interface AuditLoopOptions {
  retentionDays: number;
  pruneIntervalMs: number;
  publishIdleMs: number;
  pruned?: Counter<'table'>;
}

/**
 * Runs the audit relay (woken after each recorded write, and every `publishIdleMs`) and the
 * retention prune until stopped. Failures (Kafka, the registry, Postgres) are logged and retried
 * with backoff; they never touch the data path.
 */
export function startAuditLoop(
  d: AuditRelayDeps,
  o: AuditLoopOptions,
): { wake(): void; stop(): Promise<void> } {
  let stopping = false;
  let wake: (() => void) | null = null;
  let lastPrune = 0;
  const loop = (async () => {
    let failures = 0;
    while (!stopping) {
      let sent = 0;
      try {
        sent = await publishAuditBatch(d);
        failures = 0;
      } catch (err) {
        failures++;
        d.logger.warn({ err: String(err), failures }, 'publishing the audit log failed; will retry');
      }
      if (Date.now() - lastPrune >= o.pruneIntervalMs) {
        lastPrune = Date.now();
        try {
          const cutoff = new Date(Date.now() - o.retentionDays * 86_400_000);
          const n = await pruneAudit(d.pool, d.platform, cutoff);
          if (n > 0) {
            o.pruned?.inc({ table: 'audit_log' }, n);
            d.logger.info({ rows: n, cutoff: cutoff.toISOString() }, 'pruned the audit log');
          }
        } catch (err) {
          d.logger.warn({ err: String(err) }, 'pruning the audit log failed; will retry');
          lastPrune = 0;
        }
      }
      if (sent > 0 && failures === 0) continue;
      const idle = failures > 0 ? backoffDelay(failures, { baseMs: 200, maxMs: 10_000 }) : o.publishIdleMs;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, idle);
        wake = () => {
          clearTimeout(t);
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
      // One last pass so a write recorded just before shutdown is not left for the next start.
      await publishAuditBatch(d).catch((err: unknown) =>
        d.logger.warn({ err: String(err) }, 'final audit publish failed'),
      );
    },
  };
}
