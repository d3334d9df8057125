// The audit log (services/egress/audit.ts): one row per field of every write egress makes, inserted
// in the transaction that records the command as applied, so it is there exactly once per write.
// `published_at` null = not yet on lockstep.audit.v1 (the row is its own outbox). Deleted after
// `audit.retentionDays`. Numbered 0110 so it sorts after the other engineers' migrations.
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.createTable('audit_log', {
    id: 'bigserial',
    // sha256(command id, field): a second insert of the same write's field is dropped.
    audit_id: { type: 'text', notNull: true, unique: true },
    command_id: { type: 'text', notNull: true },
    platform: { type: 'text', notNull: true },
    target_id: { type: 'text' },
    target_key: { type: 'text' },
    link_id: { type: 'text', notNull: true },
    flow_id: { type: 'text', notNull: true },
    field: { type: 'text', notNull: true },
    recorded_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
    // The AuditRecord exactly as published (schemas/AuditRecord.avsc).
    record: { type: 'jsonb', notNull: true },
    published_at: { type: 'timestamptz' },
  });
  pgm.createIndex('audit_log', ['platform', 'target_key']);
  pgm.createIndex('audit_log', ['platform', 'target_id']);
  pgm.createIndex('audit_log', 'link_id');
  pgm.createIndex('audit_log', 'command_id');
  pgm.createIndex('audit_log', ['platform', 'recorded_at']);
  pgm.createIndex('audit_log', ['platform', 'id'], {
    where: 'published_at is null',
    name: 'audit_log_unpublished',
  });
}

export function down(pgm: MigrationBuilder): void {
  pgm.dropTable('audit_log');
}
