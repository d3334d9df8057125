// Reconciler state. One transaction writes a link's new state, the events it has seen and the
// outbox rows (commands, conflicts) to publish, so a crash loses nothing and repeats nothing
// (DESIGN.md "The reconciler's rules"). The per-field base lives inside `state` (LinkState JSON).
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.createTable('reconciler_links', {
    link_id: { type: 'text', primaryKey: true },
    flow_id: { type: 'text', notNull: true },
    kind: { type: 'text', notNull: true },
    status: { type: 'text', notNull: true },
    state: { type: 'jsonb', notNull: true },
    updated_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  // Which link an entity belongs to, per flow (an entity may sit in several flows).
  pgm.createTable(
    'reconciler_link_entities',
    {
      flow_id: { type: 'text', notNull: true },
      platform: { type: 'text', notNull: true },
      entity_id: { type: 'text', notNull: true },
      link_id: { type: 'text', notNull: true, references: 'reconciler_links', onDelete: 'CASCADE' },
    },
    { constraints: { primaryKey: ['flow_id', 'platform', 'entity_id'] } },
  );
  pgm.createTable('reconciler_seen_events', {
    event_id: { type: 'text', primaryKey: true },
    seen_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  pgm.createIndex('reconciler_seen_events', 'seen_at');
  // Events kept until a link names their entity (our own creates coming back before the outcome).
  pgm.createTable(
    'reconciler_aside',
    {
      aside_key: { type: 'text', notNull: true },
      event_id: { type: 'text', notNull: true },
      event: { type: 'jsonb', notNull: true },
      created_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
    },
    { constraints: { primaryKey: ['aside_key', 'event_id'] } },
  );
  pgm.createTable('reconciler_outbox', {
    id: 'bigserial primary key',
    topic: { type: 'text', notNull: true },
    key: { type: 'text', notNull: true },
    schema: { type: 'text', notNull: true },
    payload: { type: 'jsonb', notNull: true },
    created_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
    sent_at: { type: 'timestamptz' },
  });
  pgm.createIndex('reconciler_outbox', 'id', { name: 'reconciler_outbox_unsent', where: 'sent_at is null' });
  // Conflicts by id, for `lockstep conflicts list/resolve`.
  pgm.createTable('reconciler_conflicts', {
    conflict_id: { type: 'text', primaryKey: true },
    link_id: { type: 'text', notNull: true },
    flow_id: { type: 'text', notNull: true },
    field: { type: 'text', notNull: true },
    status: { type: 'text', notNull: true },
    record: { type: 'jsonb', notNull: true },
    updated_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  pgm.createIndex('reconciler_conflicts', 'status');
}

export function down(pgm: MigrationBuilder): void {
  pgm.dropTable('reconciler_conflicts');
  pgm.dropTable('reconciler_outbox');
  pgm.dropTable('reconciler_aside');
  pgm.dropTable('reconciler_seen_events');
  pgm.dropTable('reconciler_link_entities');
  pgm.dropTable('reconciler_links');
}
