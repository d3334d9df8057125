// Ingest state: the persisted poll cursor per source and the seen-set of webhook deliveries
// (STYLE.md rule 7: a cursor advances only after the publish is acknowledged; duplicates are dropped).
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.createTable('poll_cursors', {
    source: { type: 'text', primaryKey: true },
    cursor: { type: 'jsonb', notNull: true },
    updated_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  pgm.createTable(
    'ingest_seen',
    {
      platform: { type: 'text', notNull: true },
      delivery_id: { type: 'text', notNull: true },
      seen_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
    },
    { constraints: { primaryKey: ['platform', 'delivery_id'] } },
  );
  // Old entries are pruned by age; keep that scan cheap.
  pgm.createIndex('ingest_seen', 'seen_at');
}

export function down(pgm: MigrationBuilder): void {
  pgm.dropTable('ingest_seen');
  pgm.dropTable('poll_cursors');
}
