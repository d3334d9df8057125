// Egress idempotency: a command id is applied at most once; the recorded outcome is republished
// when the command is seen again (a replay, or a crash between the write and the offset commit).
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.createTable('egress_applied', {
    command_id: { type: 'text', primaryKey: true },
    platform: { type: 'text', notNull: true },
    outcome: { type: 'jsonb', notNull: true },
    applied_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  pgm.createIndex('egress_applied', 'applied_at');
}

export function down(pgm: MigrationBuilder): void {
  pgm.dropTable('egress_applied');
}
