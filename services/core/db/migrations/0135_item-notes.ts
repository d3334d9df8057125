// Visible notes (services/egress/notes.ts): one row per note Lockstep posts on an item when a field
// could not be carried, keyed by the hash of link + platform + field + value, so a note is posted
// once however often the value is written again, across restarts and replicas. Inserted in the
// transaction that records the write's outcome; the row is also the note's outbox (`status`
// pending → posted | failed). Numbered 0135 to sort after the other engineers' migrations.
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.createTable('item_notes', {
    note_id: { type: 'text', primaryKey: true },
    link_id: { type: 'text', notNull: true },
    flow_id: { type: 'text', notNull: true },
    platform: { type: 'text', notNull: true },
    target_id: { type: 'text', notNull: true },
    target_key: { type: 'text' },
    field: { type: 'text', notNull: true },
    value_json: { type: 'text', notNull: true },
    // The PendingNote (notes.ts): what to post and what the audit record names.
    note: { type: 'jsonb', notNull: true },
    status: {
      type: 'text',
      notNull: true,
      default: 'pending',
      check: "status in ('pending', 'posted', 'failed')",
    },
    attempts: { type: 'integer', notNull: true, default: 0 },
    next_attempt_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
    last_error: { type: 'text' },
    comment_id: { type: 'text' },
    created_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
    posted_at: { type: 'timestamptz' },
  });
  pgm.createIndex('item_notes', ['platform', 'next_attempt_at'], {
    where: "status = 'pending'",
    name: 'item_notes_due',
  });
  pgm.createIndex('item_notes', 'link_id');
}

export function down(pgm: MigrationBuilder): void {
  pgm.dropTable('item_notes');
}
