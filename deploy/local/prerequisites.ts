/**
 * The system tools the local stack needs, checked before anything starts so a missing one is
 * one message naming it and the command that installs it — not a component failing minutes in.
 * A tool that only builds or downloads something already in the cache is not required.
 * PostgreSQL is not here: it comes from npm (deploy/local/postgres.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackOptions } from './types.ts';

export interface Prerequisite {
  name: string;
  /** What needs it. */
  for: string;
  ok: boolean;
  /** What was found (a version, a path) or why it is missing. */
  detail: string;
  /** How to get it; set when `ok` is false. */
  fix?: string;
}

/** Kafka 4 runs on Java 17; Apicurio Registry 3.3 is compiled for Java 21 (class file 65). */
const KAFKA_JAVA = 17;
const REGISTRY_JAVA = 21;
const JVM_ROOT = '/usr/lib/jvm';
/** Go 1.21 is the first that downloads the toolchain a module's go.mod asks for. */
const GO_MINOR = 21;

function runs(cmd: string, args: string[], env: NodeJS.ProcessEnv): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 30_000 });
  if (r.error) return { ok: false, out: (r.error as NodeJS.ErrnoException).code ?? r.error.message };
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function javaMajorOf(cmd: string, env: NodeJS.ProcessEnv): number | undefined {
  const r = runs(cmd, ['-version'], env);
  const m = /version "(\d+)/.exec(r.out);
  return r.ok && m ? Number(m[1]) : undefined;
}

function jdkMajor(home: string): number | undefined {
  try {
    const m = /JAVA_VERSION="(\d+)/.exec(readFileSync(join(home, 'release'), 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function newestJdk(min: number): { java: string; major: number } | undefined {
  if (!existsSync(JVM_ROOT)) return undefined;
  return readdirSync(JVM_ROOT)
    .map((d) => ({ java: join(JVM_ROOT, d, 'bin', 'java'), major: jdkMajor(join(JVM_ROOT, d)) ?? 0 }))
    .filter((j) => j.major >= min && existsSync(j.java))
    .sort((a, b) => b.major - a.major)[0];
}

/** Each prerequisite of starting the stack `o`, in the order a person would install them. */
export function checkPrerequisites(o: StackOptions, env: NodeJS.ProcessEnv = process.env): Prerequisite[] {
  const out: Prerequisite[] = [];
  const v = o.env.versions;

  const kafkaJava = javaMajorOf(o.env.java, env);
  out.push({
    name: `Java ${KAFKA_JAVA}+ (\`${o.env.java}\`)`,
    for: 'Kafka',
    ok: kafkaJava !== undefined && kafkaJava >= KAFKA_JAVA,
    detail: kafkaJava === undefined ? `${o.env.java} not found on PATH` : `Java ${kafkaJava}`,
    fix: 'apt-get install -y openjdk-17-jre-headless (or set LOCKSTEP_JAVA to a java binary)',
  });

  const registryJava = o.env.registryJava
    ? { java: o.env.registryJava, major: javaMajorOf(o.env.registryJava, env) ?? 0 }
    : newestJdk(REGISTRY_JAVA);
  out.push({
    name: `Java ${REGISTRY_JAVA}+`,
    for: `Apicurio Registry ${v.apicurio}`,
    ok: registryJava !== undefined && registryJava.major >= REGISTRY_JAVA,
    detail: registryJava
      ? `${registryJava.java} (Java ${registryJava.major || 'unknown'})`
      : `no JDK ${REGISTRY_JAVA}+ under ${JVM_ROOT} and LOCKSTEP_REGISTRY_JAVA unset`,
    fix: `install a JDK ${REGISTRY_JAVA} or newer under ${JVM_ROOT} (Debian 12's archive has none: e.g. Eclipse Temurin's package), or set LOCKSTEP_REGISTRY_JAVA to its bin/java`,
  });

  const kafkaCached = existsSync(join(o.cacheDir, 'kafka', v.kafka, 'lib', '.complete'));
  const registryCached = existsSync(join(o.cacheDir, 'apicurio', v.apicurio, '.complete'));
  if (!kafkaCached || !registryCached) {
    const mvn = runs(o.env.mvn, ['-v'], env);
    out.push({
      name: `Maven (\`${o.env.mvn}\`)`,
      for: 'downloading Kafka and Apicurio Registry (first start only)',
      ok: mvn.ok,
      detail: mvn.ok ? (mvn.out.split('\n')[0] ?? '').trim() : `${o.env.mvn} not found on PATH`,
      fix: 'apt-get install -y maven (or set LOCKSTEP_MVN)',
    });
  }

  if (!existsSync(join(o.cacheDir, 'jaeger', v.jaeger, 'bin', 'jaeger'))) {
    const go = runs(o.env.go, ['version'], env);
    const m = /go1\.(\d+)/.exec(go.out);
    const minor = go.ok && m ? Number(m[1]) : undefined;
    out.push({
      name: `Go 1.${GO_MINOR}+ (\`${o.env.go}\`)`,
      for: 'building Jaeger (first start only)',
      ok: minor !== undefined && minor >= GO_MINOR,
      detail: !go.ok ? `${o.env.go} not found on PATH` : go.out.trim(),
      fix: `install Go 1.${GO_MINOR} or newer (it fetches the toolchain Jaeger asks for; Debian 12's golang-go is 1.19, too old) and put it on PATH, or set LOCKSTEP_GO`,
    });
  }

  if (process.getuid?.() === 0 && !o.env.pgBinDir) {
    // As root the server tools run in an unmapped user namespace (deploy/local/postgres.ts).
    const ns = runs('unshare', ['--user', 'true'], env);
    out.push({
      name: 'unshare --user',
      for: 'running PostgreSQL as root',
      ok: ns.ok,
      detail: ns.ok ? 'user namespaces available' : ns.out.trim() || 'failed',
      fix: 'apt-get install -y util-linux and allow user namespaces (sysctl user.max_user_namespaces > 0), or run as a non-root user',
    });
  }
  return out;
}

export class PrerequisiteError extends Error {
  readonly missing: Prerequisite[];
  constructor(missing: Prerequisite[]) {
    super(
      [
        `checking prerequisites: ${missing.length} missing — nothing was started`,
        ...missing.map((p) => `  ${p.name} for ${p.for}: ${p.detail}\n    fix: ${p.fix ?? '—'}`),
      ].join('\n'),
    );
    this.name = 'PrerequisiteError';
    this.missing = missing;
  }
}

/** Throws one PrerequisiteError listing everything missing, with its fix. */
export function assertPrerequisites(o: StackOptions, env: NodeJS.ProcessEnv = process.env): void {
  const missing = checkPrerequisites(o, env).filter((p) => !p.ok);
  if (missing.length > 0) throw new PrerequisiteError(missing);
}
