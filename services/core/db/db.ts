/**
 * Postgres: one pool per process, and schema migrations (node-pg-migrate) from ./migrations.
 * Services add their own migrations to that folder, numbered (0002_…, 0003_…).
 */
import { join } from 'node:path';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { LockstepError } from '../errors/index.ts';
import type { Logger } from '../logging/index.ts';

export type { Pool, PoolClient } from 'pg';

export const MIGRATIONS_DIR = join(import.meta.dirname, 'migrations');
export const MIGRATIONS_TABLE = 'lockstep_migrations';

export function createPool(url: string, opts: { max?: number; applicationName?: string } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'lockstep',
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled, that kills the process.
  pool.on('error', () => {});
  return pool;
}

/**
 * Apply pending migrations; a second run applies nothing. node-pg-migrate takes an advisory lock,
 * so several processes starting at once do not race. Returns the names applied by this call.
 */
export async function migrate(url: string, opts: { logger?: Logger; dir?: string } = {}): Promise<string[]> {
  const log = opts.logger;
  try {
    const ran = await runner({
      databaseUrl: url,
      dir: opts.dir ?? MIGRATIONS_DIR,
      migrationsTable: MIGRATIONS_TABLE,
      direction: 'up',
      count: Infinity,
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
