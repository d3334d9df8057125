// Webhook signing secrets learned in handshakes (Asana's X-Hook-Secret): ingest stores each one
// before it answers the handshake and verifies later deliveries with them. Kept as given: the
// secret is what the platform signs with, so it cannot be hashed (credential encryption at rest is
// later work, as for every credential Lockstep holds).
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.createTable(
    'webhook_secrets',
    {
      platform: { type: 'text', notNull: true },
      secret: { type: 'text', notNull: true },
      learned_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
    },
    { constraints: { primaryKey: ['platform', 'secret'] } },
  );
}

export function down(pgm: MigrationBuilder): void {
  pgm.dropTable('webhook_secrets');
}
