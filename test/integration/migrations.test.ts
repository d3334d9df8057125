import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { MIGRATIONS_TABLE, migrate } from '../../services/core/db/index.ts';
import { freshDatabase } from './core-helpers.ts';

let db: { url: string; drop(): Promise<void> };
before(async () => {
  db = await freshDatabase();
});
after(async () => {
  await db?.drop();
});

test('migrations apply to a real Postgres, and a second run is a no-op', async () => {
  const first = await migrate(db.url);
  assert.ok(first.includes('0001_ingest-state'), `applied: ${first.join(', ')}`);

  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const cols = await client.query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_name IN ('poll_cursors', 'ingest_seen') ORDER BY table_name, ordinal_position`,
    );
    assert.deepEqual(
      cols.rows.map((r) => `${r.table_name}.${r.column_name}:${r.data_type}`),
      [
        'ingest_seen.platform:text',
        'ingest_seen.delivery_id:text',
        'ingest_seen.seen_at:timestamp with time zone',
        'poll_cursors.source:text',
        'poll_cursors.cursor:jsonb',
        'poll_cursors.updated_at:timestamp with time zone',
      ],
    );
    // The seen-set's primary key is what makes a duplicate delivery a no-op.
    await client.query(`INSERT INTO ingest_seen (platform, delivery_id) VALUES ('jira', 'x')`);
    const dup = await client.query(
      `INSERT INTO ingest_seen (platform, delivery_id) VALUES ('jira', 'x') ON CONFLICT DO NOTHING`,
    );
    assert.equal(dup.rowCount, 0);

    const second = await migrate(db.url);
    assert.deepEqual(second, []);
    const recorded = await client.query(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY id`);
    assert.deepEqual(
      recorded.rows.map((r) => r.name),
      first,
    );
  } finally {
    await client.end();
  }
});
