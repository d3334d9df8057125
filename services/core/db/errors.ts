/**
 * What a Postgres failure means for the caller. Only a server-reported `DatabaseError` whose
 * SQLSTATE says the statement itself is at fault (a constraint, a type, a syntax error) is
 * permanent: asking again fails again. Everything else the driver throws — a connection
 * terminated by a failover or `pg_terminate_backend` ("Connection terminated unexpectedly",
 * "terminating connection due to administrator command"), EPIPE, ECONNRESET, ECONNREFUSED, a
 * connect or query timeout, a client that is "not queryable" after its connection broke — says
 * nothing about the input and must be retried, never dead-lettered.
 */
import pg from 'pg';
import { LockstepError } from '../errors/index.ts';

// 08 connection exception, 40001 serialization failure, 40P01 deadlock, 53 insufficient
// resources, 57P01/57P02/57P03 admin/crash shutdown and cannot-connect-now, 57014 query canceled
// (statement_timeout, pg_cancel_backend), 58 system errors (I/O on the server).
const TRANSIENT_SQLSTATE = /^(08|53|58)|^(40001|40P01|57P01|57P02|57P03|57014)$/;

/** True when the error is a server-reported SQLSTATE that asking again will not fix. */
export function isPermanentPgError(err: unknown): boolean {
  if (!(err instanceof pg.DatabaseError)) return false;
  const code = err.code ?? '';
  return code !== '' && !TRANSIENT_SQLSTATE.test(code);
}

/**
 * Wraps a Postgres failure as a LockstepError: permanent SQLSTATEs as `unknown`/not retriable,
 * everything else as `network`/retriable. A LockstepError passes through unchanged.
 */
export function pgError(action: string, err: unknown): LockstepError {
  if (err instanceof LockstepError) return err;
  return isPermanentPgError(err)
    ? new LockstepError(action, { category: 'unknown', retriable: false, cause: err })
    : new LockstepError(action, { category: 'network', retriable: true, cause: err });
}
