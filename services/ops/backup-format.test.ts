import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  BackupEncoder,
  readBackupLines,
  verifyBackup,
  type BackupHeader,
} from './backup-format.ts';

const dir = mkdtempSync(join(tmpdir(), 'lockstep-backup-format-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const path = () => join(dir, `b${++n}.jsonl.gz`);

const header = (over: Partial<BackupHeader> = {}): BackupHeader => ({
  format: BACKUP_FORMAT,
  formatVersion: BACKUP_FORMAT_VERSION,
  lockstepVersion: '0.1.0',
  createdAt: '2026-12-03T05:00:00.000Z',
  migrations: ['0001_ingest-state', '0010_egress-applied'],
  tables: { poll_cursors: 2, egress_applied: 1 },
  omitted: [],
  consumerGroups: [
    {
      groupId: 'lockstep-reconciler',
      topics: [
        {
          topic: 'lockstep.changes.v1',
          partitions: [
            { partition: 0, offset: '42' },
            { partition: 1, offset: null },
          ],
        },
      ],
    },
  ],
  ...over,
});

const rows: [string, string][] = [
  [
    'poll_cursors',
    '{"source": "jira:ENG", "cursor": {"t": 1}, "updated_at": "2026-12-03T05:00:00.123456+00:00"}',
  ],
  [
    'poll_cursors',
    '{"source": "linear:ENG", "cursor": "a\\nb ✓", "updated_at": "2026-12-03T05:00:01+00:00"}',
  ],
  [
    'egress_applied',
    '{"command_id": "c1", "platform": "jira", "outcome": {}, "applied_at": "2026-12-03T05:00:02+00:00"}',
  ],
];

function text(h: BackupHeader = header(), rs: [string, string][] = rows): string {
  const enc = new BackupEncoder();
  return enc.header(h) + rs.map(([t, r]) => enc.row(t, r)).join('') + enc.trailer();
}

function write(content: string | Buffer, gz = true): string {
  const p = path();
  writeFileSync(p, gz ? gzipSync(content) : content);
  return p;
}

async function readAll(file: string) {
  const out = [];
  for await (const l of readBackupLines(file)) out.push(l);
  return out;
}

describe('backup format', () => {
  it('round trip: the header and every row come back as written, gzip or plain', async () => {
    for (const gz of [true, false]) {
      const lines = await readAll(write(text(), gz));
      assert.deepEqual(lines[0], { kind: 'header', header: header() });
      assert.deepEqual(
        lines.slice(1),
        rows.map(([table, r]) => ({ kind: 'row', table, row: JSON.parse(r) as unknown })),
      );
    }
  });

  it('refuses a format version it does not know, and says a newer Lockstep made it', async () => {
    const p = write(text(header({ formatVersion: BACKUP_FORMAT_VERSION + 1, lockstepVersion: '9.0.0' })));
    await assert.rejects(
      verifyBackup(p),
      /backup format version 2; this Lockstep reads version 1 \(the backup was made by a newer Lockstep, 9\.0\.0/,
    );
  });

  it('refuses a file that is not a backup', async () => {
    await assert.rejects(verifyBackup(write('{"hello":1}\n')), /not a Lockstep backup/);
    await assert.rejects(
      verifyBackup(write('PK\u0003\u0004 zip bytes', false)),
      /not JSON: not a Lockstep backup/,
    );
    await assert.rejects(verifyBackup(write('', false)), /the file is empty/);
  });

  it('refuses a missing file', async () => {
    await assert.rejects(verifyBackup(join(dir, 'nope.gz')), /reading backup .*nope\.gz: no such file/);
  });

  it('refuses a row changed after writing (checksum)', async () => {
    const t = text().replace('"t": 1', '"t": 2');
    await assert.rejects(verifyBackup(write(t)), /checksum does not match/);
  });

  it('refuses a file cut short: a truncated gzip stream, a missing end marker', async () => {
    const gz = gzipSync(text());
    const p = path();
    writeFileSync(p, gz.subarray(0, gz.length - 20));
    await assert.rejects(verifyBackup(p), /reading backup .*(cut short|corrupted)/);
    const lines = text().split('\n');
    await assert.rejects(
      verifyBackup(write(lines.slice(0, -2).join('\n') + '\n')),
      /no end marker after 3 rows: the file was cut short/,
    );
  });

  it('refuses damaged compressed bytes', async () => {
    const gz = Buffer.from(gzipSync(text()));
    gz[Math.floor(gz.length / 2)]! ^= 0xff;
    const p = path();
    writeFileSync(p, gz);
    await assert.rejects(verifyBackup(p), /reading backup .*(corrupted|cut short|checksum|not JSON)/);
  });

  it('refuses row counts that differ from the header, and rows of unlisted tables', async () => {
    await assert.rejects(
      verifyBackup(write(text(header({ tables: { poll_cursors: 3, egress_applied: 1 } })))),
      /table poll_cursors: the header counts 3 rows, the file has 2/,
    );
    await assert.rejects(
      verifyBackup(write(text(header(), [...rows, ['audit_log', '{}']]))),
      /a row of table audit_log, which the header does not list/,
    );
  });

  it('refuses data after the end marker and a malformed header', async () => {
    await assert.rejects(
      verifyBackup(write(`${text()}{"table":"poll_cursors","row":{}}\n`)),
      /data after the end marker/,
    );
    const bad = text(
      header({
        consumerGroups: [
          { groupId: 'g', topics: [{ topic: 't', partitions: [{ partition: 0, offset: 'x' }] }] },
        ],
      }),
    );
    await assert.rejects(verifyBackup(write(bad)), /the header's consumerGroups is missing or malformed/);
  });

  it('writes exactly the documented layout', () => {
    const t = gunzipSync(readFileSync(write(text())))
      .toString('utf8')
      .split('\n');
    assert.equal(t.length, 1 + rows.length + 1 + 1, 'header, rows, trailer, final newline');
    assert.match(t[1]!, /^\{"table":"poll_cursors","row":\{/);
    assert.match(t.at(-2)!, /^\{"end":true,"rows":3,"sha256":"[0-9a-f]{64}"\}$/);
  });
});
