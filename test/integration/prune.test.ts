/**
 * Issue 7, finding 10, on the real test Postgres: rows older than the topics' retention plus the
 * margin are pruned from every unbounded table, in batches, counted by
 * lockstep_pruned_rows_total{table}; recent rows and unsent outbox rows stay.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  createPool,
  migrate,
  PRUNABLE,
  pruneCutoff,
  prunedRowsCounter,
  pruneOnce,
  type Pool,
} from '../../services/core/db/index.ts';
import { freshDatabase } from './core-helpers.ts';

const DAY = 86_400_000;
const OLD = 20; // rows per table older than the cutoff
const RECENT = 3;

let db: { url: string; drop(): Promise<void> };
let pool: Pool;

/** Inserts one row into `table` whose time column is `ageMs` in the past. */
async function insert(table: string, i: number, ageMs: number, tag: string): Promise<void> {
  const at = new Date(Date.now() - ageMs);
  const id = `${tag}-${i}`;
  switch (table) {
    case 'ingest_seen':
      await pool.query('insert into ingest_seen (platform, delivery_id, seen_at) values ($1, $2, $3)', [
        'linear',
        id,
        at,
      ]);
      break;
    case 'reconciler_seen_events':
      await pool.query('insert into reconciler_seen_events (event_id, seen_at) values ($1, $2)', [id, at]);
      break;
    case 'reconciler_outbox':
      await pool.query(
        `insert into reconciler_outbox (topic, key, schema, payload, created_at, sent_at)
         values ('t', $1, 'WriteCommand', '{}'::jsonb, $2, $2)`,
        [id, at],
      );
      break;
    case 'egress_applied':
      await pool.query(
        `insert into egress_applied (command_id, platform, outcome, applied_at) values ($1, 'jira', '{}'::jsonb, $2)`,
        [id, at],
      );
      break;
    case 'reconciler_aside':
      await pool.query(
        `insert into reconciler_aside (aside_key, event_id, event, created_at) values ('k', $1, '{}'::jsonb, $2)`,
        [id, at],
      );
      break;
    default:
      throw new Error(`inserting into ${table}: no fixture`);
  }
}

const count = async (table: string) =>
  Number((await pool.query<{ n: string }>(`select count(*) as n from ${table}`)).rows[0]!.n);

before(async () => {
  db = await freshDatabase();
  await migrate(db.url);
  pool = createPool(db.url);
});
after(async () => {
  await pool?.end();
  await db?.drop();
});

describe('pruning (real Postgres)', () => {
  it('deletes rows older than retention + margin in batches, keeps recent and unsent rows, counts per table', async () => {
    const retention = [7 * DAY, 7 * DAY, 3 * DAY]; // changes, commands, outcomes
    const margin = DAY;
    for (const { table } of PRUNABLE) {
      for (let i = 0; i < OLD; i++) await insert(table, i, 9 * DAY, 'old');
      for (let i = 0; i < RECENT; i++) await insert(table, i, 7 * DAY + DAY / 2, 'recent'); // inside the window
    }
    // An unsent outbox row is never pruned, however old.
    await pool.query(
      `insert into reconciler_outbox (topic, key, schema, payload, created_at) values ('t', 'unsent', 'WriteCommand', '{}'::jsonb, now() - interval '90 days')`,
    );
    const registry = new Registry();
    const counter = prunedRowsCounter(registry);
    const batches: Record<string, number[]> = {};
    const cutoff = pruneCutoff(Date.now(), retention, margin);
    assert.ok(
      Math.abs(cutoff.getTime() - (Date.now() - 8 * DAY)) < 60_000,
      'cutoff = longest retention + margin',
    );
    const pruned = await pruneOnce(
      pool,
      { cutoff, batchSize: 7 },
      { counter, onBatch: (t, n) => (batches[t] ??= []).push(n) },
    );
    for (const { table } of PRUNABLE) {
      assert.equal(pruned[table], OLD, `${table}: every old row pruned`);
      assert.deepEqual(batches[table], [7, 7, 6], `${table}: in batches of at most 7`);
      assert.equal(
        await count(table),
        RECENT + (table === 'reconciler_outbox' ? 1 : 0),
        `${table}: the rest kept`,
      );
    }
    const metric = await counter.get();
    for (const { table } of PRUNABLE)
      assert.equal(metric.values.find((v) => v.labels.table === table)?.value, OLD, `metric for ${table}`);
    // A second pass finds nothing.
    const again = await pruneOnce(pool, { cutoff, batchSize: 7 });
    assert.deepEqual(
      Object.values(again),
      PRUNABLE.map(() => 0),
    );
  });
});
