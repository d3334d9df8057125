/**
 * Apicurio Registry 3.x from its Maven Central distribution (`apicurio-registry-app`, classifier
 * `all`, a Quarkus app), Confluent-compatible API at /apis/ccompat/v7.
 *
 * Storage is SQL on the stack's own Postgres (database `apicurio_<instance>`), not the default
 * in-memory H2: every retained record carries a schema id, and a registry that forgot its ids on
 * restart would turn a replay, a DLQ retry or any cold-cache consumer's read into garbage or
 * poison. So the registry starts after Postgres answers.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { postgresComponent, postgresUrl } from './postgres.ts';
import { httpOk, isAlive, readPid, run, startDaemon, StackError, stopPidFile, waitUntil } from './process.ts';
import type { Component, StackOptions } from './types.ts';

// Apicurio Registry 3.3 is compiled for Java 21 (class file 65); Debian 12 ships Java 17.
const MIN_JAVA = 21;

function javaMajor(home: string): number | undefined {
  try {
    const m = /JAVA_VERSION="(\d+)/.exec(readFileSync(join(home, 'release'), 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** A Java 21+ runtime: LOCKSTEP_REGISTRY_JAVA, else the newest JDK under /usr/lib/jvm. */
function registryJava(o: StackOptions): string {
  if (o.env.registryJava) return o.env.registryJava;
  const root = '/usr/lib/jvm';
  const candidates = existsSync(root)
    ? readdirSync(root)
        .map((d) => ({ home: join(root, d), major: javaMajor(join(root, d)) ?? 0 }))
        .filter((j) => j.major >= MIN_JAVA && existsSync(join(j.home, 'bin', 'java')))
        .sort((a, b) => b.major - a.major)
    : [];
  const best = candidates[0];
  if (!best)
    throw new StackError(
      'registry',
      `Apicurio Registry ${o.env.versions.apicurio} needs Java ${MIN_JAVA}+ and none was found under ${root}; install one or set LOCKSTEP_REGISTRY_JAVA to its java binary`,
    );
  return join(best.home, 'bin', 'java');
}

const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

function home(o: StackOptions): string {
  return join(o.cacheDir, 'apicurio', o.env.versions.apicurio);
}
function dir(o: StackOptions): string {
  return join(o.stateDir, 'registry');
}
function logFile(o: StackOptions): string {
  return join(o.stateDir, 'logs', 'registry.log');
}
function pidFile(o: StackOptions): string {
  return join(dir(o), 'registry.pid');
}

/** The ccompat base URL clients such as @kafkajs/confluent-schema-registry take as `host`. */
export function registryUrl(o: StackOptions): string {
  return `http://127.0.0.1:${o.ports.registry}/apis/ccompat/v7`;
}

function findFile(root: string, name: string, depth = 3): string | undefined {
  if (depth < 0 || !existsSync(root)) return undefined;
  for (const entry of readdirSync(root)) {
    const p = join(root, entry);
    if (entry === name) return p;
    if (statSync(p).isDirectory()) {
      const found = findFile(p, name, depth - 1);
      if (found) return found;
    }
  }
  return undefined;
}

async function install(o: StackOptions): Promise<void> {
  registryJava(o);
  const root = home(o);
  const done = join(root, '.complete');
  if (existsSync(done)) return;
  mkdirSync(root, { recursive: true });
  const v = o.env.versions.apicurio;
  o.log(
    `registry: downloading io.apicurio:apicurio-registry-app:${v} (tar.gz, classifier all) with Maven (first time only)…`,
  );
  await run(
    o.env.mvn,
    [
      '-B',
      '-q',
      `-Dmaven.repo.local=${join(o.cacheDir, 'm2')}`,
      `${DEPENDENCY_PLUGIN}:copy`,
      `-Dartifact=io.apicurio:apicurio-registry-app:${v}:tar.gz:all`,
      `-DoutputDirectory=${root}`,
    ],
    { component: 'registry', logFile: logFile(o), cwd: root },
  );
  const tarball = readdirSync(root).find((f) => f.endsWith('.tar.gz'));
  if (!tarball) throw new StackError('registry', `no tar.gz in ${root} after download`, logFile(o));
  mkdirSync(join(root, 'dist'), { recursive: true });
  await run('tar', ['-xzf', join(root, tarball), '-C', join(root, 'dist')], {
    component: 'registry',
    logFile: logFile(o),
  });
  if (!findFile(join(root, 'dist'), 'quarkus-run.jar'))
    throw new StackError('registry', `quarkus-run.jar not found in ${join(root, 'dist')}`, logFile(o));
  writeFileSync(done, `${new Date().toISOString()}\n`);
}

async function healthy(o: StackOptions): Promise<boolean> {
  return httpOk(`${registryUrl(o)}/subjects`);
}

/** The registry's own database on the stack's Postgres (one per stack instance). */
export function registryDatabase(o: StackOptions): string {
  return `apicurio_${o.instance.replace(/[^a-zA-Z0-9]/g, '_')}`;
}

async function ensureDatabase(o: StackOptions): Promise<void> {
  // Postgres starts alongside the registry (stack.ts starts components in parallel): wait for it.
  await waitUntil(() => postgresComponent.healthy(o), {
    component: 'registry',
    logFile: logFile(o),
    timeoutMs: 120_000,
  });
  const db = registryDatabase(o);
  const client = new pg.Client({ connectionString: postgresUrl(o, 'postgres') });
  await client.connect();
  try {
    const exists = await client.query('select 1 from pg_database where datname = $1', [db]);
    if (exists.rowCount === 0) await client.query(`create database ${db}`);
  } catch (err) {
    // Two starts at once: the other one created it.
    if (!(err instanceof Error && 'code' in err && err.code === '42P04')) throw err;
  } finally {
    await client.end();
  }
}

/**
 * DESIGN.md wants BACKWARD for every subject. @kafkajs/confluent-schema-registry's register()
 * reads /config/{subject} and compares it with the compatibility it was given; with the global
 * level set, a subject's first registration (404 there) sets the same level on the subject and
 * later ones read it back (checked in test/integration/stack.test.ts).
 */
async function setGlobalCompatibility(o: StackOptions): Promise<void> {
  const url = `${registryUrl(o)}/config`;
  const put = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'BACKWARD' }),
  });
  const putBody = await put.text();
  if (!put.ok)
    throw new StackError(
      'registry',
      `setting global compatibility: HTTP ${put.status} ${putBody}`,
      logFile(o),
    );
  const got = await fetch(url);
  const body = await got.text();
  if (!got.ok || !body.includes('BACKWARD'))
    throw new StackError(
      'registry',
      `checking global compatibility: GET /config answered ${got.status} ${body}`,
      logFile(o),
    );
}

async function start(o: StackOptions): Promise<void> {
  const log = logFile(o);
  const running = readPid(pidFile(o));
  if (running !== undefined && isAlive(running)) {
    await waitUntil(() => healthy(o), {
      component: 'registry',
      logFile: log,
      timeoutMs: 90_000,
      pid: running,
    });
    await setGlobalCompatibility(o);
    return;
  }
  mkdirSync(dir(o), { recursive: true });
  await ensureDatabase(o);
  const jar = findFile(join(home(o), 'dist'), 'quarkus-run.jar');
  if (!jar)
    throw new StackError(
      'registry',
      `quarkus-run.jar missing under ${home(o)}; remove that folder and rerun`,
      log,
    );
  const pid = await startDaemon(
    registryJava(o),
    [
      '-Xms128m',
      '-Xmx512m',
      `-Dquarkus.http.host=127.0.0.1`,
      `-Dquarkus.http.port=${o.ports.registry}`,
      `-Dquarkus.management.host=127.0.0.1`,
      `-Dquarkus.management.port=${o.ports.registryManagement}`,
      // Durable storage (names from the 3.3 distribution's application.properties). The pool
      // defaults (20 connections held open) are sized for a server, not a laptop stack.
      '-Dapicurio.storage.kind=sql',
      '-Dapicurio.storage.sql.kind=postgresql',
      `-Dapicurio.datasource.url=jdbc:postgresql://127.0.0.1:${o.ports.postgres}/${registryDatabase(o)}`,
      '-Dapicurio.datasource.username=postgres',
      // The stack's Postgres trusts loopback connections (see postgres.ts); the driver wants a value.
      '-Dapicurio.datasource.password=postgres',
      '-Dapicurio.datasource.jdbc.initial-size=2',
      '-Dapicurio.datasource.jdbc.min-size=2',
      '-Dapicurio.datasource.jdbc.max-size=10',
      // Tests clean up after themselves; deletes are off by default.
      '-Dapicurio.rest.deletion.group.enabled=true',
      '-Dapicurio.rest.deletion.artifact.enabled=true',
      '-Dapicurio.rest.deletion.artifact-version.enabled=true',
      '-jar',
      jar,
    ],
    { component: 'registry', logFile: log, pidFile: pidFile(o), cwd: dir(o) },
  );
  // Quarkus boots in 50–100 s on a loaded 2-core machine (measured); the wait ends early if the
  // JVM exits.
  await waitUntil(() => healthy(o), { component: 'registry', logFile: log, timeoutMs: 300_000, pid });
  await setGlobalCompatibility(o);
}

export const registryComponent: Component = {
  name: 'registry',
  install,
  start,
  healthy: (o) => healthy(o).catch(() => false),
  stop: (o) => stopPidFile(pidFile(o), 20_000),
  pid: (o) => readPid(pidFile(o)),
  logFile,
};
