// What operators did with each dead letter (`lockstep dlq retry | discard`), one row per action,
// keyed by the dead letter's own place on the dead-letter topic (topic, partition, offset) — the
// only identity a dead letter has that never changes. The latest row is the dead letter's state;
// `dlq` refuses a second retry/discard of one that already has a row unless forced. Numbered 0100
// so it sorts after the other engineers' 00xx migrations.
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.createTable('dlq_actions', {
    id: 'bigserial',
    dlq_topic: { type: 'text', notNull: true },
    dlq_partition: { type: 'integer', notNull: true },
    dlq_offset: { type: 'bigint', notNull: true },
    action: { type: 'text', notNull: true, check: "action in ('retried', 'discarded')" },
    actor: { type: 'text', notNull: true },
    reason: { type: 'text' },
    forced: { type: 'boolean', notNull: true, default: false },
    // Where a retry put the original record back (null for a discard).
    target_topic: { type: 'text' },
    target_partition: { type: 'integer' },
    target_offset: { type: 'text' },
    at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  pgm.createIndex('dlq_actions', ['dlq_topic', 'dlq_partition', 'dlq_offset', 'id']);
}

export function down(pgm: MigrationBuilder): void {
  pgm.dropTable('dlq_actions');
}
