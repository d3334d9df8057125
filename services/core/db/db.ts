/**
 * Postgres: one pool per process, and schema migrations (node-pg-migrate) from ./migrations.
 * Services add their own migrations to that folder, numbered (0002_…, 0003_…).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { LockstepError } from '../errors/index.ts';
import type { Logger } from '../logging/index.ts';

export type { Pool, PoolClient } from 'pg';

export const MIGRATIONS_DIR = join(import.meta.dirname, 'migrations');
export const MIGRATIONS_TABLE = 'lockstep_migrations';

/**
 * Client-side bounds on every connect and every query. Without them a connection the network
 * breaks silently (a half-open TCP connection after a reset, a partition, a proxy that stops
 * passing bytes) leaves the query waiting for ever: seen in the chaos suite's network-toxics
 * scenario, where egress-linear's read of its applied record never returned after Toxiproxy reset
 * the Postgres connections, and the edit it carried never reached Linear. A timed-out query fails
 * as a transient error (no SQLSTATE, `errors.ts`), its client is dropped by the pool, and the
 * caller retries. Generous on purpose: no query of Lockstep's takes seconds.
 */
export const PG_CONNECT_TIMEOUT_MS = 10_000;
export const PG_QUERY_TIMEOUT_MS = 60_000;

export function createPool(
  url: string,
  opts: { max?: number; applicationName?: string; logger?: Logger; queryTimeoutMs?: number } = {},
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'lockstep',
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    query_timeout: opts.queryTimeoutMs ?? PG_QUERY_TIMEOUT_MS,
  });
  const log = opts.logger;
  // A dropped connection (failover, pg_terminate_backend, a restarted pooler) makes its client emit
  // 'error'; an 'error' event nobody listens to kills the process. The pool listens only while a
  // client is idle (then emits 'error' on the pool); a checked-out client between two queries — a
  // transaction waiting on Kafka, say — has no listener of its own. So every client gets one for
  // its whole life. The query in flight (if any) fails on its own and is retried by its caller; a
  // broken client is released with its error, so the pool drops it and connects anew.
  pool.on('connect', (client) => {
    client.on('error', (err) => log?.warn({ err: err.message }, 'Postgres connection lost; reconnecting'));
  });
  pool.on('error', (err) => log?.warn({ err: err.message }, 'idle Postgres connection lost'));
  return pool;
}

/** A standalone client with the same guard as the pool's: a dropped connection never crashes. */
export function createClient(
  url: string,
  opts: { applicationName?: string; logger?: Logger } = {},
): pg.Client {
  const client = new pg.Client({
    connectionString: url,
    application_name: opts.applicationName ?? 'lockstep',
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    query_timeout: PG_QUERY_TIMEOUT_MS,
  });
  client.on('error', (err) => opts.logger?.warn({ err: err.message }, 'Postgres connection lost'));
  return client;
}

/**
 * Apply pending migrations; a second run applies nothing. node-pg-migrate takes an advisory lock,
 * so several processes starting at once do not race. Returns the names applied by this call.
 */
export async function migrate(
  url: string,
  opts: { logger?: Logger; dir?: string; count?: number } = {},
): Promise<string[]> {
  const log = opts.logger;
  try {
    const ran = await runner({
      databaseUrl: url,
      dir: opts.dir ?? MIGRATIONS_DIR,
      migrationsTable: MIGRATIONS_TABLE,
      direction: 'up',
      // A count stops at a level (`lockstep restore` loads a backup at the level it was taken at).
      count: opts.count ?? Infinity,
      checkOrder: true,
      singleTransaction: true,
      log: (msg: string) => log?.debug({ migrate: true }, msg),
      logger: log
        ? {
            debug: (m: string) => log.debug(m),
            info: (m: string) => log.debug(m),
            warn: (m: string) => log.warn(m),
            error: (m: string) => log.error(m),
          }
        : { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    });
    return ran.map((m) => m.name);
  } catch (err) {
    throw new LockstepError('migrating database', { category: 'unknown', cause: err });
  }
}

/** The names of the migrations in `dir`, in the order they run (node-pg-migrate sorts by name). */
export function migrationNames(dir: string = MIGRATIONS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => /\.(ts|js|sql)$/.test(f) && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.replace(/\.(ts|js|sql)$/, ''))
    .sort();
}
