/**
 * `lockstep backup` / `lockstep restore`: Lockstep's own state — its Postgres tables and the Kafka
 * offsets its consumer groups have committed — written to one file (./backup-format.ts) and put
 * back into an empty database, so the pipeline resumes exactly where it stopped: nothing it had
 * decided or written is decided or written again, nothing it had not yet read is lost.
 *
 * Both need the services stopped. The database and the offsets are one state only when no
 * consumer moves between reading one and the other (a backup taken while the reconciler runs
 * would pair links from one moment with offsets from another: events read in between would be
 * read again with a link state that already has them — harmless — or, worse, skipped). Kafka
 * itself only moves the offsets of a group without members.
 */
import { createWriteStream, existsSync, openSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import pg from 'pg';
import { migrate, migrationNames, MIGRATIONS_TABLE } from '../core/db/index.ts';
import { LockstepError } from '../core/errors/index.ts';
import {
  commandsTopic,
  readGroupOffsets,
  setGroupOffsets,
  type KafkaHandle,
  type OffsetSet,
  type TopicsConfig,
} from '../core/kafka/index.ts';
import {
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  BackupEncoder,
  readBackupLines,
  verifyBackup,
  type BackupGroup,
  type BackupHeader,
} from './backup-format.ts';

/**
 * Every table the migrations create, with why it is (or may be left) in a backup. A guard test
 * (backup.integration.test.ts) fails when a migration adds a table that is not listed here, so
 * the decision is made for each new table. Listed in load order (links before the rows that
 * reference them).
 */
export const BACKUP_TABLES: readonly {
  table: string;
  /** Primary key (or unique order) for a stable dump order. */
  orderBy: string;
  /** A bigserial column whose sequence must continue after the restored rows. */
  serial?: string;
  /** Left out by `backup --no-audit`. */
  optional?: boolean;
  why: string;
}[] = [
  {
    table: 'poll_cursors',
    orderBy: 'source',
    why: 'where each poller resumes; without it the first poll reads every item from the start',
  },
  {
    table: 'ingest_seen',
    orderBy: 'platform, delivery_id',
    why: 'webhook deliveries already published; a platform retrying one after the restore is dropped instead of published again',
  },
  {
    table: 'webhook_secrets',
    orderBy: 'platform, secret',
    why: 'signing secrets learned in webhook handshakes: without them every delivery of those webhooks is refused (401) until they are registered again',
  },
  {
    table: 'webhook_registrations',
    orderBy: 'platform',
    why: 'open webhook registration windows; at most a minute or two long, so a restored one has usually run out (harmless) — kept so a restore during a registration does not refuse its handshake',
  },
  {
    table: 'reconciler_links',
    orderBy: 'link_id',
    why: 'the links and each field’s base (inside state): without them every item looks new and is created again',
  },
  {
    table: 'reconciler_flows',
    orderBy: 'flow_id',
    why: 'when each flow began: without it the restored flow begins again at the restart, and items made while Lockstep was down would be left to backfill instead of created',
  },
  {
    table: 'reconciler_link_entities',
    orderBy: 'flow_id, platform, entity_id',
    why: 'which link each platform item belongs to',
  },
  {
    table: 'reconciler_seen_events',
    orderBy: 'event_id',
    why: 'the eventId dedupe set: a change read again (a replay, a poll overlapping a webhook) changes nothing',
  },
  {
    table: 'reconciler_aside',
    orderBy: 'aside_key, event_id',
    why: 'events waiting for a link (our own create seen before its outcome); their offsets are already committed, so they exist only here',
  },
  {
    table: 'reconciler_outbox',
    orderBy: 'id',
    serial: 'id',
    why: 'commands and conflicts decided but not yet published (their inputs are committed, so they exist only here); sent rows keep their ids, which dead letters name',
  },
  {
    table: 'reconciler_conflicts',
    orderBy: 'conflict_id',
    why: 'open and settled conflicts for `lockstep conflicts`; a held (manual) field waits on them',
  },
  {
    table: 'egress_applied',
    orderBy: 'command_id',
    why: 'commands already applied: a command delivered again (a resend, a replay) is not applied twice',
  },
  {
    table: 'dlq_actions',
    orderBy: 'id',
    serial: 'id',
    why: 'what operators did with each dead letter: without it `dlq retry` would retry a dead letter a second time',
  },
  {
    table: 'verify_runs',
    orderBy: 'run_id',
    why: 'the results of past verify runs: `lockstep report` shows the last one’s drift, and the reconciler’s scheduled verify keeps its interval instead of running at once after the move',
  },
  {
    table: 'item_notes',
    orderBy: 'note_id',
    why: 'the visible notes Lockstep posted (or is posting) on items: without it every note would be posted a second time, and pending ones would be lost',
  },
  {
    table: 'audit_log',
    orderBy: 'id',
    serial: 'id',
    optional: true,
    why: 'the audit log (who changed what, and rollback’s before-values); not needed to resume, so `--no-audit` leaves it out, and its rows not yet on the audit topic are then never published',
  },
];

export const LOCKSTEP_VERSION: string = (
  JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

/** The consumer groups Lockstep's services commit offsets in, each with the topics it reads. */
export function lockstepConsumerGroups(
  clientId: string,
  topics: TopicsConfig,
  platforms: readonly string[],
): { groupId: string; topics: string[] }[] {
  return [
    { groupId: `${clientId}-reconciler`, topics: [topics.changes, topics.outcomes] },
    ...platforms.map((p) => ({ groupId: `${clientId}-egress-${p}`, topics: [commandsTopic(topics, p)] })),
  ];
}

export type Progress = (event: { phase: string; table?: string; rows?: number; of?: number }) => void;

/** "postgres://host:port/db" without the credentials, for messages. */
export function describePgUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return '(unparseable postgres.url)';
  }
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    application_name: 'lockstep-backup',
    connectionTimeoutMillis: 10_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new LockstepError(`connecting to Postgres at ${describePgUrl(url)}`, {
      category: 'network',
      cause: err,
    });
  }
  return client;
}

async function appliedMigrations(client: pg.Client): Promise<string[] | null> {
  const t = await client.query<{ t: string | null }>('select to_regclass($1)::text as t', [MIGRATIONS_TABLE]);
  if (t.rows[0]?.t === null) return null;
  const r = await client.query<{ name: string }>(`select name from ${MIGRATIONS_TABLE} order by run_on, id`);
  return r.rows.map((x) => x.name);
}

function isPrefix(a: readonly string[], b: readonly string[]): boolean {
  return a.length <= b.length && a.every((x, i) => b[i] === x);
}

export interface BackupOptions {
  file: string;
  pgUrl: string;
  kafka: KafkaHandle;
  groups: { groupId: string; topics: string[] }[];
  includeAudit: boolean;
  waitEmptyMs: number;
  progress?: Progress;
  now?: () => Date;
}

export interface BackupResult {
  file: string;
  header: BackupHeader;
  rows: number;
  bytes: number;
}

/**
 * Writes a backup of the database at `pgUrl` and the groups' offsets to `file` (refused if it
 * exists). Written to `<file>.partial` and renamed at the end: a failed backup leaves no file
 * that looks complete.
 */
export async function takeBackup(o: BackupOptions): Promise<BackupResult> {
  const progress = o.progress ?? (() => undefined);
  if (existsSync(o.file))
    throw new LockstepError(`writing backup ${o.file}: the file exists; choose another name`, {
      category: 'validation',
    });
  const client = await connect(o.pgUrl);
  const partial = `${o.file}.partial`;
  try {
    const applied = await appliedMigrations(client);
    if (applied === null || applied.length === 0)
      throw new LockstepError(
        `backing up ${describePgUrl(o.pgUrl)}: the database has no Lockstep schema (no migrations applied); nothing to back up`,
        { category: 'validation' },
      );
    const known = migrationNames();
    if (!isPrefix(applied, known))
      throw new LockstepError(
        `backing up ${describePgUrl(o.pgUrl)}: the database is at migration ${applied.at(-1)}, which this Lockstep (${LOCKSTEP_VERSION}) does not know; back it up with the Lockstep that migrated it`,
        { category: 'validation' },
      );
    progress({ phase: 'reading consumer group offsets' });
    const before = await readGroupOffsets(o.kafka, o.groups, { waitEmptyMs: o.waitEmptyMs });

    // One snapshot for every table (repeatable read), so the rows agree with each other.
    await client.query('begin isolation level repeatable read read only');
    const present = new Set(
      (
        await client.query<{ t: string }>(
          `select table_name as t from information_schema.tables where table_schema = current_schema()`,
        )
      ).rows.map((r) => r.t),
    );
    const tables = BACKUP_TABLES.filter((t) => present.has(t.table) && (o.includeAudit || !t.optional));
    const omitted = BACKUP_TABLES.filter((t) => present.has(t.table) && !o.includeAudit && t.optional).map(
      (t) => t.table,
    );
    const counts: Record<string, number> = {};
    for (const t of tables) {
      // Table names come from BACKUP_TABLES, never from input.
      const r = await client.query<{ n: string }>(`select count(*) as n from ${t.table}`);
      counts[t.table] = Number(r.rows[0]!.n);
    }
    const header: BackupHeader = {
      format: BACKUP_FORMAT,
      formatVersion: BACKUP_FORMAT_VERSION,
      lockstepVersion: LOCKSTEP_VERSION,
      createdAt: (o.now ?? (() => new Date()))().toISOString(),
      migrations: applied,
      tables: counts,
      omitted,
      consumerGroups: before,
    };
    // Opened before any row is read, so a directory that does not exist fails at once.
    let fd: number;
    try {
      fd = openSync(partial, 'wx');
    } catch (err) {
      throw new LockstepError(`writing backup ${o.file}`, { category: 'validation', cause: err });
    }
    const enc = new BackupEncoder();
    let total = 0;
    async function* lines(): AsyncGenerator<string> {
      yield enc.header(header);
      for (const t of tables) {
        const of = counts[t.table]!;
        progress({ phase: 'backing up', table: t.table, rows: 0, of });
        await client.query(`declare backup_rows no scroll cursor for
          select to_jsonb(x)::text as j from ${t.table} x order by ${t.orderBy}`);
        let n = 0;
        for (;;) {
          const r = await client.query<{ j: string }>('fetch 1000 from backup_rows');
          if (r.rows.length === 0) break;
          yield r.rows.map((row) => enc.row(t.table, row.j)).join('');
          n += r.rows.length;
          if (n < of) progress({ phase: 'backing up', table: t.table, rows: n, of });
        }
        await client.query('close backup_rows');
        progress({ phase: 'backed up', table: t.table, rows: n, of });
        total += n;
      }
      yield enc.trailer();
    }
    // pipeline: backpressure from the file down to the cursor, and any error ends all of it.
    await pipeline(lines(), createGzip(), createWriteStream(partial, { fd }));
    await client.query('commit');

    // A consumer that ran while the tables were read would make them disagree with the offsets.
    const after = await readGroupOffsets(o.kafka, o.groups, { waitEmptyMs: 0 });
    if (JSON.stringify(after) !== JSON.stringify(before))
      throw new LockstepError(
        'backing up: consumer group offsets moved while the database was read (a service is running); stop the services and back up again',
        { category: 'conflict' },
      );
    renameSync(partial, o.file);
    const bytes = statSync(o.file).size;
    return { file: o.file, header, rows: total, bytes };
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface RestoreOptions {
  file: string;
  pgUrl: string;
  kafka: KafkaHandle;
  waitEmptyMs: number;
  progress?: Progress;
}

export interface RestoreResult {
  file: string;
  header: BackupHeader;
  rows: Record<string, number>;
  migrationsRun: string[];
  offsets: OffsetSet[];
}

const BATCH = 500;

/**
 * Restores a backup into the database at `pgUrl`, which must hold no Lockstep rows. The file is
 * read through and checked before anything is written; the consumer groups must be empty (the
 * services stopped) and their offsets must fit the topics before the rows are loaded; the rows go
 * in one transaction, and the offsets are set before it commits — so a restore that fails leaves
 * the database empty and can be run again.
 */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  const progress = o.progress ?? (() => undefined);
  progress({ phase: 'checking the backup file' });
  const header = await verifyBackup(o.file, (rows) => progress({ phase: 'checking the backup file', rows }));
  const known = migrationNames();
  if (!isPrefix(header.migrations, known))
    throw new LockstepError(
      `restoring ${o.file}: the backup is at migration ${header.migrations.at(-1)}, which this Lockstep (${LOCKSTEP_VERSION}) does not have; restore it with Lockstep ${header.lockstepVersion} or newer`,
      { category: 'validation' },
    );
  const tableSet = new Map(BACKUP_TABLES.map((t) => [t.table, t]));
  for (const t of Object.keys(header.tables))
    if (!tableSet.has(t))
      throw new LockstepError(
        `restoring ${o.file}: the backup has a table this Lockstep does not know: ${t}`,
        {
          category: 'validation',
        },
      );

  const client = await connect(o.pgUrl);
  try {
    const applied = (await appliedMigrations(client)) ?? [];
    if (!isPrefix(applied, header.migrations))
      throw new LockstepError(
        `restoring into ${describePgUrl(o.pgUrl)}: the database is already at migration ${applied.at(-1)}, past the backup's ${header.migrations.at(-1) ?? '(none)'}; restore into a new, empty database`,
        { category: 'validation' },
      );
    const nonEmpty: string[] = [];
    for (const t of BACKUP_TABLES) {
      const exists = await client.query<{ t: string | null }>('select to_regclass($1)::text as t', [t.table]);
      if (exists.rows[0]?.t === null) continue;
      const r = await client.query(`select 1 from ${t.table} limit 1`);
      if (r.rowCount) nonEmpty.push(t.table);
    }
    if (nonEmpty.length > 0)
      throw new LockstepError(
        `restoring into ${describePgUrl(o.pgUrl)}: the database is not empty (rows in ${nonEmpty.join(', ')}); restore into a new, empty database`,
        { category: 'validation' },
      );

    // Checked before any write: every group empty, every offset inside its topic.
    progress({ phase: 'checking consumer groups' });
    await setGroupOffsets(o.kafka, header.consumerGroups, { waitEmptyMs: o.waitEmptyMs, dryRun: true });

    progress({ phase: 'migrating to the backup’s level', table: header.migrations.at(-1) });
    const toRun = header.migrations.length - applied.length;
    const migrationsRun = toRun > 0 ? await migrate(o.pgUrl, { count: toRun }) : [];

    await client.query('begin');
    const loaded: Record<string, number> = {};
    let batch: { table: string; rows: Record<string, unknown>[] } | undefined;
    const flush = async () => {
      if (!batch || batch.rows.length === 0) return;
      // jsonb_populate_recordset turns each JSON value back into its column's type (timestamps
      // with their microseconds, jsonb as it was).
      await client.query(
        `insert into ${batch.table} select * from jsonb_populate_recordset(null::${batch.table}, $1::jsonb)`,
        [JSON.stringify(batch.rows)],
      );
      loaded[batch.table] = (loaded[batch.table] ?? 0) + batch.rows.length;
      const of = header.tables[batch.table] ?? 0;
      progress({ phase: 'restoring', table: batch.table, rows: loaded[batch.table], of });
      batch.rows = [];
    };
    try {
      for await (const l of readBackupLines(o.file)) {
        if (l.kind !== 'row') continue;
        if (!tableSet.has(l.table)) continue;
        if (batch?.table !== l.table) {
          await flush();
          batch = { table: l.table, rows: [] };
        }
        batch.rows.push(l.row);
        if (batch.rows.length >= BATCH) await flush();
      }
      await flush();
      for (const t of BACKUP_TABLES) {
        if (!t.serial || !(t.table in header.tables)) continue;
        await client.query(
          `select setval(pg_get_serial_sequence($1, $2), coalesce((select max(${t.serial}) from ${t.table}), 0) + 1, false)`,
          [t.table, t.serial],
        );
      }
      progress({ phase: 'setting consumer group offsets' });
      const offsets = await setGroupOffsets(o.kafka, header.consumerGroups, { waitEmptyMs: o.waitEmptyMs });
      await client.query('commit');
      // Migrations newer than the backup run over the restored rows, as they would have in place.
      const rest = await migrate(o.pgUrl);
      return {
        file: o.file,
        header,
        rows: Object.fromEntries(Object.keys(header.tables).map((t) => [t, loaded[t] ?? 0])),
        migrationsRun: [...migrationsRun, ...rest],
        offsets,
      };
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

export type { BackupGroup, BackupHeader };
