/**
 * The backup file format of `lockstep backup` / `lockstep restore` (README "Moving databases /
 * backup and restore"). A gzip-compressed UTF-8 text file of JSON lines:
 *
 *   line 1      the header: {"format":"lockstep-backup","formatVersion":1, lockstepVersion,
 *               createdAt, migrations (the names applied, in order: the last is the level),
 *               tables {name: row count}, omitted [tables left out on purpose], consumerGroups
 *               [{groupId, topics [{topic, partitions [{partition, offset|null}]}]}]}
 *   lines 2…n   one row each: {"table":"<name>","row":{<column>: value}} — a row as Postgres's
 *               to_jsonb renders it (timestamps as ISO strings with microseconds, jsonb as JSON)
 *   last line   the trailer: {"end":true,"rows":<number of row lines>,"sha256":"<hex>"}, the
 *               SHA-256 of every byte before the trailer line (header and rows, newlines included)
 *
 * A reader checks all of it before anything is written: a file cut short has no trailer, a changed
 * byte fails the checksum (gzip's own CRC catches most damage before that), a row count that
 * differs from the header's is refused. A new format version is a new number here; a reader
 * refuses a version it does not know rather than guessing.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { LockstepError } from '../core/errors/index.ts';

export const BACKUP_FORMAT = 'lockstep-backup';
export const BACKUP_FORMAT_VERSION = 1;

export interface BackupPartitionOffset {
  partition: number;
  /** The committed offset (the next record the group reads); null: nothing committed. */
  offset: string | null;
}

export interface BackupGroup {
  groupId: string;
  topics: { topic: string; partitions: BackupPartitionOffset[] }[];
}

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  formatVersion: number;
  lockstepVersion: string;
  createdAt: string;
  migrations: string[];
  tables: Record<string, number>;
  omitted: string[];
  consumerGroups: BackupGroup[];
}

export interface BackupTrailer {
  end: true;
  rows: number;
  sha256: string;
}

/** Builds the file's text line by line and keeps the checksum; the caller writes each chunk. */
export class BackupEncoder {
  readonly #hash: Hash = createHash('sha256');
  #rows = 0;

  header(h: BackupHeader): string {
    return this.#line(JSON.stringify(h));
  }

  /** `rowJson` is one row as JSON text (Postgres's to_jsonb(t)::text), passed through untouched. */
  row(table: string, rowJson: string): string {
    this.#rows++;
    return this.#line(`{"table":${JSON.stringify(table)},"row":${rowJson}}`);
  }

  trailer(): string {
    const t: BackupTrailer = { end: true, rows: this.#rows, sha256: this.#hash.digest('hex') };
    return `${JSON.stringify(t)}\n`;
  }

  #line(text: string): string {
    const line = `${text}\n`;
    this.#hash.update(line, 'utf8');
    return line;
  }
}

const fail = (file: string, what: string) =>
  new LockstepError(`reading backup ${file}: ${what}`, { category: 'validation' });

/** Checks the header's shape and version; the message says what is wrong. */
export function parseHeader(file: string, line: string | undefined): BackupHeader {
  if (line === undefined) throw fail(file, 'the file is empty');
  let h: unknown;
  try {
    h = JSON.parse(line);
  } catch {
    throw fail(file, 'the first line is not JSON: not a Lockstep backup (or not gzip-compressed as written)');
  }
  const o = h as Partial<BackupHeader> | null;
  if (typeof o !== 'object' || o === null || o.format !== BACKUP_FORMAT)
    throw fail(file, `not a Lockstep backup (the header has no "format": "${BACKUP_FORMAT}")`);
  if (o.formatVersion !== BACKUP_FORMAT_VERSION)
    throw fail(
      file,
      `backup format version ${String(o.formatVersion)}; this Lockstep reads version ${BACKUP_FORMAT_VERSION}` +
        (typeof o.formatVersion === 'number' && o.formatVersion > BACKUP_FORMAT_VERSION
          ? ` (the backup was made by a newer Lockstep${o.lockstepVersion ? `, ${o.lockstepVersion}` : ''}: restore it with that version)`
          : ''),
    );
  const bad = (field: string) => fail(file, `the header's ${field} is missing or malformed`);
  if (typeof o.lockstepVersion !== 'string') throw bad('lockstepVersion');
  if (typeof o.createdAt !== 'string') throw bad('createdAt');
  if (!Array.isArray(o.migrations) || !o.migrations.every((m) => typeof m === 'string'))
    throw bad('migrations');
  if (
    typeof o.tables !== 'object' ||
    o.tables === null ||
    !Object.values(o.tables).every((n) => Number.isInteger(n) && n >= 0)
  )
    throw bad('tables');
  if (!Array.isArray(o.omitted)) throw bad('omitted');
  if (
    !Array.isArray(o.consumerGroups) ||
    !o.consumerGroups.every(
      (g) =>
        typeof g?.groupId === 'string' &&
        Array.isArray(g.topics) &&
        g.topics.every(
          (t) =>
            typeof t?.topic === 'string' &&
            Array.isArray(t.partitions) &&
            t.partitions.every(
              (p) =>
                Number.isInteger(p?.partition) &&
                (p.offset === null || (typeof p.offset === 'string' && /^\d+$/.test(p.offset))),
            ),
        ),
    )
  )
    throw bad('consumerGroups');
  return o as BackupHeader;
}

export type BackupLine =
  { kind: 'header'; header: BackupHeader } | { kind: 'row'; table: string; row: Record<string, unknown> };

/**
 * The lines of a backup file, checked as they are read: the header first, rows of the header's
 * tables only, then the trailer's count and checksum. The error for a damaged file comes at the
 * point of damage or at the end, so a caller that must not act on a bad file reads it through once
 * (`verifyBackup`) before acting.
 */
export async function* readBackupLines(file: string): AsyncGenerator<BackupLine> {
  if (!existsSync(file)) throw fail(file, 'no such file');
  if (!statSync(file).isFile()) throw fail(file, 'not a file');
  const raw = createReadStream(file);
  const magic = await new Promise<Buffer>((resolve, reject) => {
    const s = createReadStream(file, { start: 0, end: 1 });
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(Buffer.from(c)));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
  // Written gzip-compressed; a plain JSON-lines file (gunzipped by hand) is read as well.
  const gz = magic.length === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  const text: Readable = gz ? raw.pipe(createGunzip()) : raw;
  let streamErr: unknown;
  raw.on('error', (e) => (streamErr ??= e));
  text.on('error', (e) => (streamErr ??= e));
  const lines = createInterface({ input: text, crlfDelay: Infinity });
  const hash = createHash('sha256');
  let header: BackupHeader | undefined;
  let trailer: BackupTrailer | undefined;
  let rows = 0;
  const perTable = new Map<string, number>();
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      if (trailer) throw fail(file, `line ${lineNo}: data after the end marker`);
      if (!header) {
        header = parseHeader(file, line);
        hash.update(`${line}\n`, 'utf8');
        yield { kind: 'header', header };
        continue;
      }
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch {
        throw fail(file, `line ${lineNo} is not JSON (the file is corrupted)`);
      }
      const rec = o as { table?: unknown; row?: unknown; end?: unknown; rows?: unknown; sha256?: unknown };
      if (rec.end === true) {
        if (typeof rec.rows !== 'number' || typeof rec.sha256 !== 'string')
          throw fail(file, `line ${lineNo}: a malformed end marker`);
        trailer = rec as BackupTrailer;
        continue;
      }
      hash.update(`${line}\n`, 'utf8');
      if (typeof rec.table !== 'string' || typeof rec.row !== 'object' || rec.row === null)
        throw fail(file, `line ${lineNo} is neither a row nor the end marker (the file is corrupted)`);
      if (!(rec.table in header.tables))
        throw fail(file, `line ${lineNo}: a row of table ${rec.table}, which the header does not list`);
      rows++;
      perTable.set(rec.table, (perTable.get(rec.table) ?? 0) + 1);
      yield { kind: 'row', table: rec.table, row: rec.row as Record<string, unknown> };
    }
  } catch (err) {
    if (err instanceof LockstepError) throw err;
    throw fail(file, `${err instanceof Error ? err.message : String(err)} (corrupted or cut short?)`);
  }
  if (streamErr)
    throw fail(
      file,
      `${streamErr instanceof Error ? streamErr.message : String(streamErr)} (corrupted or cut short?)`,
    );
  if (!header) throw fail(file, 'the file is empty');
  if (!trailer) throw fail(file, `no end marker after ${rows} rows: the file was cut short`);
  if (trailer.rows !== rows)
    throw fail(file, `the end marker counts ${trailer.rows} rows, the file has ${rows}`);
  if (hash.digest('hex') !== trailer.sha256)
    throw fail(file, 'the checksum does not match: the file was changed or corrupted');
  for (const [table, n] of Object.entries(header.tables)) {
    const got = perTable.get(table) ?? 0;
    if (got !== n) throw fail(file, `table ${table}: the header counts ${n} rows, the file has ${got}`);
  }
}

/** Reads the whole file and checks it; resolves with its header. Writes nothing anywhere. */
export async function verifyBackup(file: string, onProgress?: (rows: number) => void): Promise<BackupHeader> {
  let header: BackupHeader | undefined;
  let n = 0;
  for await (const l of readBackupLines(file)) {
    if (l.kind === 'header') header = l.header;
    else if (++n % 5000 === 0) onProgress?.(n);
  }
  // readBackupLines throws for a file without a header.
  return header!;
}
