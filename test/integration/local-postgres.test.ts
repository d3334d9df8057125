/**
 * The local stack's PostgreSQL (deploy/local/postgres.ts) started on its own, from a state dir
 * under a fresh `mktemp -d`-style folder (mode 0700, owned by whoever runs the test — root on the
 * development machines). With the Debian server run through `runuser -u postgres`, initdb died
 * here with "Permission denied": the postgres user cannot traverse the folder.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { freePort } from '../support/ports.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { localStackEnv } from '../../deploy/local/config.ts';
import { postgresComponent, postgresUrl } from '../../deploy/local/postgres.ts';
import type { StackOptions } from '../../deploy/local/types.ts';

test('postgres initialises and serves from a folder only its owner can enter', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'lockstep-pg-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(statSync(root).mode & 0o777, 0o700);
  const port = await freePort();
  const lines: string[] = [];
  const o: StackOptions = {
    instance: 'pgtest',
    stateDir: join(root, 'state'),
    cacheDir: join(root, 'cache'),
    ports: {
      kafka: 0,
      kafkaController: 0,
      registry: 0,
      registryManagement: 0,
      postgres: port,
      jaegerQuery: 0,
      jaegerQueryGrpc: 0,
      otlpGrpc: 0,
      otlpHttp: 0,
    },
    env: localStackEnv(),
    log: (l) => lines.push(l),
  };
  mkdirSync(join(o.stateDir, 'logs'), { recursive: true });
  t.after(() => postgresComponent.stop(o));
  await postgresComponent.install(o);
  await postgresComponent.start(o).catch((err: Error) => {
    throw new Error(`${err.message}\n--- log:\n${readFileSync(postgresComponent.logFile(o), 'utf8')}`);
  });
  assert.ok(
    lines.some((l) => l.includes('initialising a new PostgreSQL')),
    lines.join('\n'),
  );
  const client = new pg.Client({ connectionString: postgresUrl(o) });
  await client.connect();
  try {
    const r = await client.query<{ db: string }>('select current_database() as db');
    assert.equal(r.rows[0]?.db, 'lockstep');
  } finally {
    await client.end();
  }
  assert.equal(await postgresComponent.stop(o), true, 'stop() should report the server was running');
  assert.equal(postgresComponent.pid(o) !== undefined && (await postgresComponent.healthy(o)), false);
});
