export {
  createClient,
  createPool,
  migrate,
  migrationNames,
  MIGRATIONS_DIR,
  MIGRATIONS_TABLE,
  type Pool,
  type PoolClient,
} from './db.ts';
export { isPermanentPgError, pgError } from './errors.ts';
export {
  PRUNABLE,
  pruneCutoff,
  prunedRowsCounter,
  pruneOnce,
  startPruning,
  type PruneOptions,
} from './prune.ts';
