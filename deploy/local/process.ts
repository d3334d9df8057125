/** Child processes of the local stack: one-shot tools, long-running daemons, and stopping them. */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export class StackError extends Error {
  readonly component: string;
  readonly logFile: string | undefined;
  constructor(component: string, message: string, logFile?: string) {
    super(logFile ? `${component}: ${message} (log: ${logFile})` : `${component}: ${message}`);
    this.name = 'StackError';
    this.component = component;
    this.logFile = logFile;
  }
}

export interface RunOptions {
  component: string;
  /** Output is appended here; errors point to it. */
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs a tool to completion, output to the log file; rejects naming the component and the log. */
export async function run(cmd: string, args: string[], opts: RunOptions): Promise<void> {
  const fd = openSync(opts.logFile, 'a');
  writeFileSync(fd, `\n$ ${cmd} ${args.join(' ')}\n`);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(cmd, args, {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: ['ignore', fd, fd],
      });
      child.on('error', (err: NodeJS.ErrnoException) => {
        const hint = err.code === 'ENOENT' ? `${cmd} is not installed or not on PATH` : err.message;
        reject(new StackError(opts.component, `running ${cmd}: ${hint}`, opts.logFile));
      });
      child.on('exit', (code, signal) => {
        if (code === 0) resolve();
        else
          reject(
            new StackError(
              opts.component,
              `${cmd} ${args[0] ?? ''} failed (${signal ?? `exit ${code}`})`,
              opts.logFile,
            ),
          );
      });
    });
  } finally {
    closeSync(fd);
  }
}

export interface DaemonOptions extends RunOptions {
  pidFile: string;
}

/**
 * Starts a long-running process detached in its own process group (so `down` can stop it and
 * anything it forks), output to its log file, and records its pid.
 */
export function startDaemon(cmd: string, args: string[], opts: DaemonOptions): Promise<number> {
  const fd = openSync(opts.logFile, 'a');
  writeFileSync(fd, `\n--- ${new Date().toISOString()} $ ${cmd} ${args.join(' ')}\n`);
  return new Promise<number>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      closeSync(fd);
      const hint = err.code === 'ENOENT' ? `${cmd} is not installed or not on PATH` : err.message;
      reject(new StackError(opts.component, `starting ${cmd}: ${hint}`, opts.logFile));
    });
    child.on('spawn', () => {
      closeSync(fd);
      const pid = child.pid;
      if (pid === undefined) {
        reject(new StackError(opts.component, `starting ${cmd}: no pid`, opts.logFile));
        return;
      }
      writeFileSync(opts.pidFile, `${pid}\n`);
      child.unref();
      resolve(pid);
    });
  });
}

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers signal 0; it is not running.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** SIGTERM to the process group, SIGKILL after the grace period; resolves once it is gone. */
export async function stopProcess(pid: number, graceMs: number, group = true): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(group ? -pid : pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  if (!isAlive(pid)) return;
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(200);
  }
  signal('SIGKILL');
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
}

export async function stopPidFile(pidFile: string, graceMs: number): Promise<boolean> {
  const pid = readPid(pidFile);
  if (pid === undefined) return false;
  const wasAlive = isAlive(pid);
  await stopProcess(pid, graceMs);
  rmSync(pidFile, { force: true });
  return wasAlive;
}

/**
 * Polls `probe` until it returns true; fails early if the process died, or at the deadline.
 */
export async function waitUntil(
  probe: () => Promise<boolean>,
  opts: { component: string; logFile: string; timeoutMs: number; pid?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    if (opts.pid !== undefined && !isAlive(opts.pid))
      throw new StackError(opts.component, 'exited during start-up', opts.logFile);
    await sleep(500);
  }
  throw new StackError(
    opts.component,
    `not healthy after ${Math.round(opts.timeoutMs / 1000)}s`,
    opts.logFile,
  );
}

export async function httpOk(url: string, timeoutMs = 2000): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  await res.arrayBuffer();
  return res.ok;
}
