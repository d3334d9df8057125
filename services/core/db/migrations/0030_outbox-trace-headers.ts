// The trace context (W3C `traceparent`/`tracestate`) of the input whose decision produced an
// outbox row, so the relay publishes the row inside that trace and one sync stays one trace.
// Null for rows written before this column existed, or decided without a trace.
import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.addColumn('reconciler_outbox', { trace_headers: { type: 'jsonb' } });
}

export function down(pgm: MigrationBuilder): void {
  pgm.dropColumn('reconciler_outbox', 'trace_headers');
}
