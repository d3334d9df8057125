// The result of each `lockstep verify` run, from the CLI or the reconciler's schedule
// (services/ops/verify-runs.ts): what `lockstep report` shows as drift from the last verify, and
// where the schedule learns when the last scheduled run was (so replicas and restarts keep the
// interval). Summary counts only, plus a capped sample of the drift; the full report is the CLI's
// output. Rows older than 30 days are deleted when a run is recorded.
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.createTable('verify_runs', {
    run_id: { type: 'text', primaryKey: true },
    // cli | schedule
    origin: { type: 'text', notNull: true },
    flows: { type: 'text[]', notNull: true },
    started_at: { type: 'timestamptz', notNull: true },
    finished_at: { type: 'timestamptz', notNull: true },
    // in_step | drift | incomplete | failed
    result: { type: 'text', notNull: true },
    repair: { type: 'boolean', notNull: true },
    // The VerifyRunSummary (services/ops/verify-runs.ts): counts, findings by flow/platform/kind;
    // null for a failed run (no report).
    summary: { type: 'jsonb' },
    error: { type: 'text' },
  });
  pgm.createIndex('verify_runs', ['origin', 'finished_at']);
  pgm.createIndex('verify_runs', 'finished_at');
}

export function down(pgm: MigrationBuilder): void {
  pgm.dropTable('verify_runs');
}
