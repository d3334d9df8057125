/**
 * PostgreSQL from the Debian packages (`apt-get install postgresql`), a private cluster on a
 * private port. The server refuses to run as root, so as root the cluster belongs to the
 * `postgres` system user and every server tool runs through runuser.
 */
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { isAlive, readPid, run, StackError, stopProcess, waitUntil } from './process.ts';
import type { Component, StackOptions } from './types.ts';

function dir(o: StackOptions): string {
  return join(o.stateDir, 'postgres');
}
function dataDir(o: StackOptions): string {
  return join(dir(o), 'data');
}
function logFile(o: StackOptions): string {
  return join(o.stateDir, 'logs', 'postgres.log');
}

export function postgresUrl(o: StackOptions, database = 'lockstep'): string {
  return `postgres://postgres@127.0.0.1:${o.ports.postgres}/${database}`;
}

function binDir(o: StackOptions): string {
  if (o.env.pgBinDir) return o.env.pgBinDir;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new StackError(
      'postgres',
      'PostgreSQL server binaries not found under /usr/lib/postgresql/<version>/bin; install them with `apt-get install -y postgresql` or set LOCKSTEP_PG_BINDIR',
    );
  return join(root, versions[0] as string, 'bin');
}

const asRoot = process.getuid?.() === 0;

function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (!uid || !gid)
    throw new StackError(
      'postgres',
      'running as root needs the `postgres` system user (created by the postgresql package)',
    );
  return { uid: Number(uid), gid: Number(gid) };
}

/** Runs a server tool as the cluster owner. */
function pgTool(o: StackOptions, tool: string, args: string[]): Promise<void> {
  const bin = join(binDir(o), tool);
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  return run(cmd, argv, { component: 'postgres', logFile: logFile(o), cwd: dir(o) });
}

async function install(o: StackOptions): Promise<void> {
  const bin = binDir(o);
  if (!existsSync(join(bin, 'initdb')))
    throw new StackError(
      'postgres',
      `${join(bin, 'initdb')} missing; install with \`apt-get install -y postgresql\``,
    );
}

async function query(o: StackOptions, database: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: postgresUrl(o, database), connectionTimeoutMillis: 2000 });
  // A connection dropped between statements emits 'error'; unheard, it would crash the CLI. The
  // statement in flight fails on its own.
  client.on('error', () => {});
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

async function healthy(o: StackOptions): Promise<boolean> {
  try {
    const r = await query(o, 'lockstep', 'select 1 as ok');
    return r.rows.length === 1;
  } catch {
    return false;
  }
}

function pid(o: StackOptions): number | undefined {
  return readPid(join(dataDir(o), 'postmaster.pid'));
}

async function start(o: StackOptions): Promise<void> {
  const log = logFile(o);
  const data = dataDir(o);
  const running = pid(o);
  if (running === undefined || !isAlive(running)) {
    mkdirSync(dir(o), { recursive: true });
    if (asRoot) {
      const { uid, gid } = postgresUser();
      chownSync(dir(o), uid, gid);
    }
    if (!existsSync(join(data, 'PG_VERSION'))) {
      o.log('postgres: initialising a new cluster…');
      await pgTool(o, 'initdb', [
        '-D',
        data,
        '-U',
        'postgres',
        '-A',
        'trust',
        '-E',
        'UTF8',
        '--no-instructions',
      ]);
    }
    // Server output goes to the log file through the inherited descriptor.
    const serverOpts = [
      `-p ${o.ports.postgres}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${dir(o)}`,
      '-c max_connections=200',
    ].join(' ');
    await pgTool(o, 'pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-o', serverOpts]);
  }
  const server = pid(o);
  await waitUntil(
    async () => {
      await query(o, 'postgres', 'select 1');
      return true;
    },
    { component: 'postgres', logFile: log, timeoutMs: 60_000, pid: server },
  );
  const exists = await query(o, 'postgres', "select 1 from pg_database where datname = 'lockstep'");
  if (exists.rowCount === 0) await query(o, 'postgres', 'create database lockstep');
}

async function stop(o: StackOptions): Promise<boolean> {
  const server = pid(o);
  if (server === undefined || !isAlive(server)) return false;
  try {
    await pgTool(o, 'pg_ctl', ['stop', '-w', '-t', '30', '-m', 'fast', '-D', dataDir(o)]);
  } catch {
    // pg_ctl failed; stop the postmaster directly (it takes its children with it).
  }
  await stopProcess(server, 10_000, false);
  return true;
}

export const postgresComponent: Component = {
  name: 'postgres',
  install,
  start,
  healthy,
  stop,
  pid,
  logFile,
};
