import type { Pool } from '../core/db/index.ts';
import type { WriteOutcome } from '../../schemas/generated/types.ts';
import type { AppliedStore } from './egress.ts';

export function createAppliedStore(pool: Pool, platform: string): AppliedStore {
  return {
    async get(commandId) {
      const r = await pool.query<{ outcome: WriteOutcome }>(
        'select outcome from egress_applied where command_id = $1',
        [commandId],
      );
      return r.rows[0]?.outcome ?? null;
    },
    async record(commandIds, outcome) {
      await pool.query(
        `insert into egress_applied (command_id, platform, outcome)
         select unnest($1::text[]), $2, $3::jsonb
         on conflict (command_id) do update set outcome = excluded.outcome, applied_at = now()
           where egress_applied.outcome->>'status' = 'failed'`,
        [commandIds, platform, JSON.stringify(outcome)],
      );
    },
  };
}
