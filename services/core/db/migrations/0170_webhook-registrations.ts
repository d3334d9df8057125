// When a webhook handshake may teach ingest a signing secret (Asana's X-Hook-Secret). Anyone who
// can reach ingest can send a handshake; without a window, a stranger's handshake would make ingest
// learn the stranger's secret and accept what they sign. `lockstep webhooks register` opens a
// platform's window for the length of its registration call (the platform handshakes while that
// call is open) and closes it after; a handshake outside a window is refused (403).
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.createTable('webhook_registrations', {
    platform: { type: 'text', primaryKey: true },
    open_until: { type: 'timestamptz', notNull: true },
  });
}

export function down(pgm: MigrationBuilder): void {
  pgm.dropTable('webhook_registrations');
}
