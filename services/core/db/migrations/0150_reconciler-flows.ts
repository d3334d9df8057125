// When each flow began: live sync creates on the other sides only the items made after that
// (reconciler/flow-starts.ts); the items that existed before are `lockstep backfill`'s, which
// records here when it last completed. Numbered 0150 to sort after the other engineers' migrations.
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.createTable('reconciler_flows', {
    flow_id: { type: 'text', primaryKey: true },
    started_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
    backfilled_at: { type: 'timestamptz' },
  });
}
