import { pgError, type Pool } from '../core/db/index.ts';
import type { WriteOutcome } from '../../schemas/generated/types.ts';
import { insertAuditRecords } from './audit.ts';
import type { AppliedStore } from './egress.ts';
import { insertNotes } from './notes.ts';

const RECORD_APPLIED = `insert into egress_applied (command_id, platform, outcome)
  select unnest($1::text[]), $2, $3::jsonb
  on conflict (command_id) do update
    set outcome = excluded.outcome, applied_at = now()
    -- a recorded failure may be retried (replay, DLQ retry) and then succeed; a success stays
    where egress_applied.outcome->>'status' = 'failed'`;

/**
 * `onAudited` is called after a transaction that wrote audit records commits (wakes their relay),
 * `onNoted` after one that wrote notes (wakes the notes outbox, notes.ts).
 */
export function createAppliedStore(
  pool: Pool,
  platform: string,
  onAudited?: () => void,
  onNoted?: () => void,
): AppliedStore {
  return {
    async get(commandId) {
      // Classified (core/db): a dropped connection is retriable, never a failed write.
      const r = await pool
        .query<{ outcome: WriteOutcome }>('select outcome from egress_applied where command_id = $1', [
          commandId,
        ])
        .catch((err: unknown) => {
          throw pgError(`reading the applied record of command ${commandId}`, err);
        });
      return r.rows[0]?.outcome ?? null;
    },
    async record(commandIds, outcome, audit = [], notes = []) {
      const what = `recording the outcome of commands ${commandIds.join(', ')}`;
      // Distinct: one id twice in the statement is refused (ON CONFLICT cannot affect a row twice).
      const params = [[...new Set(commandIds)], platform, JSON.stringify(outcome)];
      if (audit.length === 0 && notes.length === 0) {
        await pool.query(RECORD_APPLIED, params).catch((err: unknown) => {
          throw pgError(what, err);
        });
        return;
      }
      // The applied record, the audit records and the notes of the write commit together or not at all.
      const client = await pool.connect().catch((err: unknown) => {
        throw pgError(what, err);
      });
      let ok = false;
      try {
        await client.query('begin');
        await client.query(RECORD_APPLIED, params);
        await insertAuditRecords(client, audit);
        await insertNotes(client, notes);
        await client.query('commit');
        ok = true;
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw pgError(what, err);
      } finally {
        client.release(ok ? undefined : true);
      }
      if (audit.length > 0) onAudited?.();
      if (notes.length > 0) onNoted?.();
    },
  };
}
