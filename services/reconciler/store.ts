/**
 * The reconciler's Postgres state (tables in core/db/migrations/0020_reconciler.ts).
 * Everything one input changes — link state, seen event ids, set-aside events, conflicts and the
 * outbox rows to publish — is written through one `StoreTx`, i.e. one transaction. Link rows are
 * locked (`for update`) while decided, because one link is reached from two topics (changes keyed
 * by entity, outcomes keyed by link) and so from two partitions at once.
 */
import type { QueryResultRow } from 'pg';
import { pgError, type Pool, type PoolClient } from '../core/db/index.ts';
import type { ChangeEvent, Conflict, WriteCommand } from '../../schemas/generated/types.ts';
import type { TraceHeaders } from '../core/telemetry/index.ts';
import type { LinkState } from './state.ts';

export type OutboxRow = (
  | { topic: string; key: string; schema: 'WriteCommand'; payload: WriteCommand }
  | { topic: string; key: string; schema: 'Conflict'; payload: Conflict }
) & {
  /** Trace context of the decision that produced the row; the relay publishes inside it. */
  traceHeaders?: TraceHeaders | null;
};

export type StoredOutboxRow = OutboxRow & { id: string };

/** What became of a row `relay` handed to `send`. */
export type RelayVerdict = 'sent' | { deadLettered: string };

/** The advisory lock key of the outbox relay (any constant; it only has to be the same everywhere). */
export const RELAY_LOCK_KEY = 7_401_001;
/** The first key of the entity locks (StoreTx.lockEntity); the second is a hash of the entity. */
export const ENTITY_LOCK_CLASS = 7_401_002;

export interface StoreTx {
  seen(eventId: string): Promise<boolean>;
  markSeen(eventId: string): Promise<void>;
  /** The link this entity belongs to in this flow, locked for this transaction. */
  linkForEntity(flowId: string, platform: string, entityId: string): Promise<LinkState | null>;
  /** A link by id, locked for this transaction. */
  link(linkId: string): Promise<LinkState | null>;
  /** Upserts the link and indexes every side that has an entity id. */
  saveLink(state: LinkState): Promise<void>;
  /**
   * Serializes this transaction with every other one deciding about this entity, until it ends
   * (a transaction-scoped advisory lock). An entity that is not linked yet has no row to lock: an
   * edit of our new record set aside while its create's outcome is being recorded could otherwise
   * commit its aside row just after the outcome looked for it, and wait there for ever.
   */
  lockEntity(platform: string, entityId: string): Promise<void>;
  putAside(key: string, event: ChangeEvent): Promise<void>;
  /** Removes and returns the events set aside under `key`, oldest first. */
  takeAside(key: string): Promise<ChangeEvent[]>;
  enqueue(rows: OutboxRow[]): Promise<void>;
  recordConflicts(conflicts: Conflict[]): Promise<void>;
}

export interface ConflictRow {
  conflictId: string;
  linkId: string;
  flowId: string;
  field: string;
  status: string;
  record: Conflict;
  updatedAt: Date;
}

export interface ReconcilerStore {
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /**
   * Publishes unsent outbox rows in id order through `send`, one at a time, marking each sent
   * (its own statement, committed) once `send` resolves — so a failure never sends again the
   * rows before it. `send` resolving `{ deadLettered: reason }` means the row can never be sent
   * and is on the dead-letter topic: it is marked so and the relay moves past it. A `send` that
   * throws (Kafka or the registry down) stops the pass; the row is tried again first next time.
   *
   * One relay at a time across reconciler replicas, under a Postgres advisory lock, so rows of
   * one target leave in the order they were decided. Resolves `null` when another replica holds
   * it. A crash between send and mark repeats the send (at-least-once; command ids are
   * deterministic and egress drops repeats).
   */
  relay(send: (row: StoredOutboxRow) => Promise<RelayVerdict>, limit?: number): Promise<number | null>;
  conflicts(filter?: { status?: 'open' | 'resolved'; conflictId?: string }): Promise<ConflictRow[]>;
}

/**
 * Every statement's failure becomes a LockstepError (retriable unless a permanent SQLSTATE), so
 * the caller can tell a Postgres failure — wait and retry — from a failure of the decision itself,
 * which passes through unchanged and dead-letters its input.
 */
function txOf(client: PoolClient): StoreTx {
  const q = <R extends QueryResultRow>(sql: string, params: unknown[]) =>
    client.query<R>(sql, params).catch((err: unknown) => {
      throw pgError('recording reconciler state', err);
    });
  return {
    async seen(eventId) {
      const r = await q('select 1 from reconciler_seen_events where event_id = $1', [eventId]);
      return (r.rowCount ?? 0) > 0;
    },
    async markSeen(eventId) {
      await q('insert into reconciler_seen_events (event_id) values ($1) on conflict do nothing', [eventId]);
    },
    async linkForEntity(flowId, platform, entityId) {
      const r = await q<{ state: LinkState }>(
        `select l.state from reconciler_link_entities e
           join reconciler_links l on l.link_id = e.link_id
          where e.flow_id = $1 and e.platform = $2 and e.entity_id = $3
          for update of l`,
        [flowId, platform, entityId],
      );
      return r.rows[0]?.state ?? null;
    },
    async link(linkId) {
      const r = await q<{ state: LinkState }>(
        'select state from reconciler_links where link_id = $1 for update',
        [linkId],
      );
      return r.rows[0]?.state ?? null;
    },
    async saveLink(state) {
      await q(
        `insert into reconciler_links (link_id, flow_id, kind, status, state, updated_at)
         values ($1, $2, $3, $4, $5::jsonb, now())
         on conflict (link_id) do update
           set status = excluded.status, state = excluded.state, updated_at = now()`,
        [state.linkId, state.flowId, state.kind, state.status, JSON.stringify(state)],
      );
      for (const side of state.sides) {
        if (side.entityId === null) continue;
        await q(
          `insert into reconciler_link_entities (flow_id, platform, entity_id, link_id)
           values ($1, $2, $3, $4) on conflict do nothing`,
          [state.flowId, side.platform, side.entityId, state.linkId],
        );
      }
    },
    async lockEntity(platform, entityId) {
      await q('select pg_advisory_xact_lock($1::int, hashtext($2))', [
        ENTITY_LOCK_CLASS,
        `${platform}:${entityId}`,
      ]);
    },
    async putAside(key, event) {
      await q(
        `insert into reconciler_aside (aside_key, event_id, event) values ($1, $2, $3::jsonb)
         on conflict do nothing`,
        [key, event.eventId, JSON.stringify(event)],
      );
    },
    async takeAside(key) {
      const r = await q<{ event: ChangeEvent }>(
        `delete from reconciler_aside where aside_key = $1 returning event, created_at`,
        [key],
      );
      return r.rows.map((row) => row.event).sort((a, b) => a.source.tsMs - b.source.tsMs);
    },
    async enqueue(rows) {
      for (const row of rows) {
        await q(
          `insert into reconciler_outbox (topic, key, schema, payload, trace_headers)
           values ($1, $2, $3, $4::jsonb, $5::jsonb)`,
          [
            row.topic,
            row.key,
            row.schema,
            JSON.stringify(row.payload),
            row.traceHeaders ? JSON.stringify(row.traceHeaders) : null,
          ],
        );
      }
    },
    async recordConflicts(conflicts) {
      for (const c of conflicts) {
        await q(
          `insert into reconciler_conflicts (conflict_id, link_id, flow_id, field, status, record, updated_at)
           values ($1, $2, $3, $4, $5, $6::jsonb, now())
           on conflict (conflict_id) do update
             set status = excluded.status, record = excluded.record, updated_at = now()`,
          [c.conflictId, c.linkId, c.flowId, c.field, c.status, JSON.stringify(c)],
        );
      }
    },
  };
}

export function createReconcilerStore(pool: Pool): ReconcilerStore {
  return {
    async transaction(fn) {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw pgError('connecting to Postgres', err);
      }
      let broken: Error | undefined;
      try {
        await client.query('begin').catch((err: unknown) => {
          throw pgError('recording reconciler state', err);
        });
        const out = await fn(txOf(client));
        await client.query('commit').catch((err: unknown) => {
          throw pgError('recording reconciler state', err);
        });
        return out;
      } catch (err) {
        await client.query('rollback').catch((e: unknown) => (broken = e as Error));
        // Statement failures were classified by txOf; errors of the decision itself pass through
        // unchanged, and the caller dead-letters their input.
        throw err;
      } finally {
        // A client whose rollback failed has a broken connection: the pool must drop it.
        client.release(broken);
      }
    },

    async relay(send, limit = 100) {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw pgError('connecting to Postgres', err);
      }
      let locked = false;
      let broken: Error | undefined;
      try {
        // A session lock, not a transaction: it is held while rows are sent (Kafka round trips) and
        // no transaction stays open meanwhile. If this connection dies, the server drops the lock.
        const l = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [
          RELAY_LOCK_KEY,
        ]);
        locked = l.rows[0]?.ok === true;
        if (!locked) return null;
        // Ordered by the bigint column: `order by id` would sort by the text alias ('10' < '9').
        const r = await client.query<StoredOutboxRow>(
          `select id::text as id, topic, key, schema, payload, trace_headers as "traceHeaders"
             from reconciler_outbox
            where sent_at is null order by reconciler_outbox.id limit $1`,
          [limit],
        );
        let done = 0;
        for (const row of r.rows) {
          const verdict = await send(row);
          await client.query('update reconciler_outbox set sent_at = now(), dead_letter = $2 where id = $1', [
            row.id,
            verdict === 'sent' ? null : verdict.deadLettered,
          ]);
          done++;
        }
        return done;
      } catch (err) {
        throw pgError('relaying the reconciler outbox', err);
      } finally {
        if (locked)
          await client.query('select pg_advisory_unlock($1)', [RELAY_LOCK_KEY]).catch((e: unknown) => {
            broken = e as Error; // the pool destroys this client, and the server drops its lock
          });
        client.release(broken);
      }
    },

    async conflicts(filter = {}) {
      const r = await pool.query<{
        conflict_id: string;
        link_id: string;
        flow_id: string;
        field: string;
        status: string;
        record: Conflict;
        updated_at: Date;
      }>(
        `select conflict_id, link_id, flow_id, field, status, record, updated_at from reconciler_conflicts
          where ($1::text is null or status = $1) and ($2::text is null or conflict_id = $2)
          order by updated_at desc`,
        [filter.status ?? null, filter.conflictId ?? null],
      );
      return r.rows.map((row) => ({
        conflictId: row.conflict_id,
        linkId: row.link_id,
        flowId: row.flow_id,
        field: row.field,
        status: row.status,
        record: row.record,
        updatedAt: row.updated_at,
      }));
    },
  };
}
