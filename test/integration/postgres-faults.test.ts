/**
 * Finding 2 of issue 7 on the real test Postgres: a dropped connection (failover, restarted pooler,
 * `pg_terminate_backend`) is an infrastructure failure — retried, never a dead letter — and never
 * crashes the process through an unhandled 'error' event of a pg client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, createServer, type Socket } from 'node:net';
import pg from 'pg';
import { createClient, createPool, migrate, pgError, type Pool } from '../../services/core/db/index.ts';
import { isRetriable } from '../../services/core/errors/index.ts';
import { createDeliveryStore } from '../../services/ingest/store.ts';
import { createReconcilerStore } from '../../services/reconciler/store.ts';
import { freshDatabase, rand } from './core-helpers.ts';

/** Terminates every backend of `applicationName` in this database; resolves with how many. */
async function terminate(admin: Pool, applicationName: string): Promise<number> {
  const r = await admin.query(
    `select pg_terminate_backend(pid) from pg_stat_activity
      where application_name = $1 and datname = current_database() and pid <> pg_backend_pid()`,
    [applicationName],
  );
  return r.rowCount ?? 0;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`waiting for ${what}: not after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const backends = async (admin: Pool, app: string) =>
  Number(
    (
      await admin.query<{ n: string }>(
        `select count(*) as n from pg_stat_activity where application_name = $1 and datname = current_database()`,
        [app],
      )
    ).rows[0]?.n,
  );

describe('Postgres connections dropped under the services', { timeout: 120_000 }, () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let admin: Pool;
  before(async () => {
    db = await freshDatabase();
    await migrate(db.url);
    admin = new pg.Pool({ connectionString: db.url, max: 1, application_name: 'pg-faults-admin' });
  });
  after(async () => {
    await admin?.end();
    await db?.drop();
  });

  it('a connection killed in the middle of a reconciler transaction is retriable, and the next one works', async () => {
    const app = rand('reconciler');
    const pool = createPool(db.url, { applicationName: app, max: 2 });
    const store = createReconcilerStore(pool);
    try {
      const err = await store
        .transaction(async (tx) => {
          await tx.seen('e1');
          // Killed while the client is checked out and idle between two statements (as when a
          // decision or the relay waits on something else): the client emits 'error' with no
          // query to fail, and the next statement meets a dead connection.
          assert.equal(await terminate(admin, app), 1, 'one backend to terminate');
          await until('the backend to be gone', async () => (await backends(admin, app)) === 0);
          await new Promise((r) => setTimeout(r, 100)); // let the client read the socket's end
          await tx.markSeen('e1');
          return 'committed';
        })
        .then(
          () => null,
          (e: unknown) => e,
        );
      assert.ok(err instanceof Error, 'the transaction fails');
      assert.equal(
        isRetriable(err),
        true,
        `retriable, so the input is retried, not dead-lettered: ${String(err)}`,
      );
      // The pool dropped the broken client and connects anew.
      const out = await store.transaction(async (tx) => {
        await tx.markSeen('e1');
        return tx.seen('e1');
      });
      assert.equal(out, true);
    } finally {
      await pool.end();
    }
  });

  it('a statement running when its backend is terminated (57P01) is retriable', async () => {
    const app = rand('reconciler');
    const pool = createPool(db.url, { applicationName: app, max: 1 });
    try {
      // The handler is attached at once: the query fails as soon as Postgres reports the
      // termination, which can be before `terminate` returns — a rejection with no handler yet is
      // an unhandled rejection that fails the test (seen once under load).
      const running = pool.query('select pg_sleep(30)').then(
        () => null,
        (e: unknown) => e,
      );
      await until('the sleep to run', async () => (await backends(admin, app)) === 1);
      await terminate(admin, app);
      const err = await running;
      assert.ok(err instanceof Error);
      assert.equal(isRetriable(pgError('sleeping', err)), true, String(err));
      assert.equal((await pool.query<{ one: number }>('select 1 as one')).rows[0]?.one, 1, 'reconnects');
    } finally {
      await pool.end();
    }
  });

  it('idle pooled and standalone clients whose connection is killed do not crash the process', async () => {
    const app = rand('idle');
    const pool = createPool(db.url, { applicationName: app, max: 2 });
    const client = createClient(db.url, { applicationName: app });
    try {
      await client.connect();
      await pool.query('select 1');
      assert.equal(await terminate(admin, app), 2);
      await until('both backends to be gone', async () => (await backends(admin, app)) === 0);
      // An unhandled 'error' event would have thrown out of the event loop by now and failed the run.
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(
        (await pool.query<{ one: number }>('select 1 as one')).rows[0]?.one,
        1,
        'the pool reconnects',
      );
    } finally {
      await client.end().catch(() => undefined);
      await pool.end();
    }
  });

  it("a webhook's delivery-id check whose backend is terminated mid-statement is retried on a new connection: no 503", async () => {
    const app = rand('ingest');
    const pool = createPool(db.url, { applicationName: app, max: 1 });
    const locker = new pg.Client({ connectionString: db.url, application_name: 'pg-faults-locker' });
    await locker.connect();
    try {
      const deliveries = createDeliveryStore(pool);
      // The check waits on a lock, so its backend is terminated while the statement runs.
      await locker.query('begin');
      await locker.query('lock table ingest_seen in access exclusive mode');
      const check = deliveries.seen('somewhere', 'delivery-1').then(
        (seen) => ({ seen }),
        (e: unknown) => ({ error: e }),
      );
      const lockWaiters = async () =>
        (
          await admin.query<{ pid: number }>(
            `select pid from pg_stat_activity
              where application_name = $1 and datname = current_database() and wait_event_type = 'Lock'`,
            [app],
          )
        ).rows.map((r) => r.pid);
      let first: number | undefined;
      await until(
        'the check to wait on the lock',
        async () => (first = (await lockWaiters())[0]) !== undefined,
      );
      assert.equal(await terminate(admin, app), 1, "the check's backend terminated");
      await until('the retry to wait on the lock, on another backend', async () =>
        (await lockWaiters()).some((pid) => pid !== first),
      );
      await locker.query('commit');
      assert.deepEqual(await check, { seen: false }, 'answered from a new connection');
    } finally {
      await locker.end().catch(() => undefined);
      await pool.end();
    }
  });

  it('driver errors without a SQLSTATE are retriable; only a permanent SQLSTATE is not', async () => {
    // Real errors from the driver, not hand-made ones where we can get them.
    const refused = await new pg.Client({ connectionString: 'postgres://x:y@127.0.0.1:1/none' })
      .connect()
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.equal((refused as { code?: string }).code, 'ECONNREFUSED');
    assert.equal(isRetriable(pgError('connecting', refused)), true);
    const unique = await admin
      .query('create temp table t (id int primary key); insert into t values (1), (1)')
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.ok(unique instanceof pg.DatabaseError);
    assert.equal(unique.code, '23505');
    assert.equal(isRetriable(pgError('inserting', unique)), false, 'a unique violation fails again');
    // Socket errors the driver passes through as they come: EPIPE's code is five capitals, which
    // a SQLSTATE-shaped test mistakes for one.
    for (const code of ['EPIPE', 'ECONNRESET', 'ETIMEDOUT'])
      assert.equal(
        isRetriable(pgError('querying', Object.assign(new Error(`write ${code}`), { code }))),
        true,
        code,
      );
    for (const message of ['Connection terminated unexpectedly', 'timeout exceeded when trying to connect'])
      assert.equal(isRetriable(pgError('querying', new Error(message))), true, message);
  });

  it('a query on a connection the network stopped passing bytes fails after the query timeout (retriable) instead of hanging, and the pool recovers', async () => {
    // A TCP relay in front of Postgres that can go silent: connections stay open, no byte passes
    // either way (a partition, a half-open connection after a reset) — what Toxiproxy left behind
    // in the chaos suite's network-toxics scenario when a query never returned.
    const target = new URL(db.url);
    let silent = false;
    const sockets = new Set<Socket>();
    const relay = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      sockets.add(client).add(upstream);
      client.on('data', (d) => void (silent || upstream.write(d)));
      upstream.on('data', (d) => void (silent || client.write(d)));
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const port = (relay.address() as { port: number }).port;
    const url = new URL(db.url);
    url.port = String(port);
    const pool = createPool(url.toString(), {
      max: 1,
      applicationName: 'pg-faults-silent',
      queryTimeoutMs: 1500,
    });
    try {
      assert.equal((await pool.query('select 1 as n')).rows[0].n, 1);
      silent = true;
      const t0 = Date.now();
      const err = await pool.query('select 2 as n').then(
        () => null,
        (e: unknown) => e,
      );
      const took = Date.now() - t0;
      assert.ok(err instanceof Error, 'the query failed');
      assert.match(err.message, /timeout/i);
      assert.ok(took < 15_000, `it failed after ${took} ms, not at its 1.5 s bound`);
      assert.equal(
        isRetriable(pgError('querying', err)),
        true,
        'a query timeout is retried, never dead-lettered',
      );
      silent = false;
      // The timed-out client was dropped: the next query gets a new connection and works.
      assert.equal((await pool.query('select 3 as n')).rows[0].n, 3);
    } finally {
      await pool.end().catch(() => undefined);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => relay.close(() => r()));
    }
  });
});
