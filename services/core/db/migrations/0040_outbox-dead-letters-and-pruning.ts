// The relay marks a row it could never send (an encode error, a record too large for its topic)
// dead-lettered instead of retrying it forever: `sent_at` is set (the relay moves past it) and
// `dead_letter` says why (the row is also on the dead-letter topic). Indexes for pruning: sent
// rows by `sent_at`, set-aside events by `created_at`.
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.addColumn('reconciler_outbox', { dead_letter: { type: 'text' } });
  pgm.createIndex('reconciler_outbox', 'sent_at', {
    name: 'reconciler_outbox_sent',
    where: 'sent_at is not null',
  });
  pgm.createIndex('reconciler_aside', 'created_at');
}

export function down(pgm: MigrationBuilder): void {
  pgm.dropIndex('reconciler_aside', 'created_at');
  pgm.dropIndex('reconciler_outbox', 'sent_at', { name: 'reconciler_outbox_sent' });
  pgm.dropColumn('reconciler_outbox', 'dead_letter');
}
