/**
 * Postgres failover under load (issue 7, finding 2), on a private Postgres: every backend of the
 * services is terminated (`pg_terminate_backend`, as a failover or a restarted pooler does) while
 * edits and creates flow, and later Postgres itself is restarted (fast shutdown, then start, with
 * its data kept). Dropped connections must not crash a service or dead-letter a change or an
 * outcome; everything in flight is retried once Postgres answers again.
 */
import pg from 'pg';
import { chaosScenario } from './scenario.ts';

async function terminateServiceBackends(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`,
    );
    return r.rowCount ?? 0;
  } finally {
    await c.end();
  }
}

chaosScenario({
  name: 'postgres failover under load',
  fault: 'pg_terminate_backend of every service connection twice, then a Postgres restart',
  options: { private: ['postgres'] },
  async run(w, load) {
    const url = w.stack.postgresUrl('lockstep');
    let terminated = 0;
    await load.runSteps(async (i) => {
      if (i === 1 || i === 3) terminated += await terminateServiceBackends(url);
      if (i === 5) {
        await w.stack.stop('postgres');
        await w.stack.start('postgres');
      }
    });
    if (terminated === 0) throw new Error('terminating the services’ Postgres backends: none found');
    return Date.now();
  },
});
