/**
 * The supervisor `lockstep start` runs each service under, as Kubernetes' kubelet does for a pod
 * with `restartPolicy: Always`: it runs the service as its child, and when the service dies (a
 * crash, an OOM kill, a SIGKILL) starts it again after an exponential backoff, reset once the
 * service has stayed up long enough. Restarts, the last exit and a crash loop (too many restarts
 * in a window) are written to a state file that `lockstep status` reads.
 *
 * Run as `node supervisor.ts <stateFile> <policyJson> <cmd> [args…]`, detached by the launcher
 * in its own process group (the service is in that group too, so stopping the group stops both).
 * SIGTERM/SIGINT are passed to the service, and the supervisor exits when it has.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';

export interface RestartPolicy {
  /** First restart delay; doubles on each restart that follows a short run. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A run at least this long resets the backoff (the crash was not a loop). */
  resetAfterMs: number;
  /** `crashLoopRestarts` restarts within `crashLoopWindowMs` is a crash loop (shown in status). */
  crashLoopRestarts: number;
  crashLoopWindowMs: number;
}

// Kubernetes starts at 10 s and caps at 5 min, resetting after 10 min up. A local pipeline is
// restarted sooner; the cap and the reset are Kubernetes'.
export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  backoffBaseMs: 1000,
  backoffMaxMs: 300_000,
  resetAfterMs: 600_000,
  crashLoopRestarts: 5,
  crashLoopWindowMs: 600_000,
};

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  atMs: number;
  /** How long that run lasted. */
  uptimeMs: number;
}

export interface SupervisorState {
  supervisorPid: number;
  /** The service's pid while it runs, null while waiting to restart or stopped. */
  pid: number | null;
  state: 'running' | 'backoff' | 'stopping' | 'stopped';
  /** Starts after the first. */
  restarts: number;
  lastExit: ExitInfo | null;
  /** Times of the restarts inside the crash-loop window. */
  recentRestartsMs: number[];
  crashLoop: boolean;
  /** When the next start is due (state `backoff`). */
  nextStartAtMs: number | null;
  startedAtMs: number | null;
  /** The policy this supervisor runs with (status reads the crash-loop window from it). */
  policy: RestartPolicy;
}

/** The delay before the next start, given the previous delay and how long the last run lasted. */
export function nextBackoff(policy: RestartPolicy, previousMs: number | null, uptimeMs: number): number {
  if (previousMs === null || uptimeMs >= policy.resetAfterMs) return policy.backoffBaseMs;
  return Math.min(policy.backoffMaxMs, previousMs * 2);
}

/** The restarts still inside the window after one more at `nowMs`, and whether that is a loop. */
export function recordRestart(
  policy: RestartPolicy,
  recentMs: number[],
  nowMs: number,
): { recentRestartsMs: number[]; crashLoop: boolean } {
  const recent = [...recentMs.filter((t) => nowMs - t < policy.crashLoopWindowMs), nowMs];
  return { recentRestartsMs: recent, crashLoop: recent.length >= policy.crashLoopRestarts };
}

function supervise(stateFile: string, policy: RestartPolicy, cmd: string, args: string[]): void {
  const state: SupervisorState = {
    supervisorPid: process.pid,
    pid: null,
    state: 'running',
    restarts: 0,
    lastExit: null,
    recentRestartsMs: [],
    crashLoop: false,
    nextStartAtMs: null,
    startedAtMs: null,
    policy,
  };
  const save = () => {
    // Written whole and renamed, so a reader never sees half a file.
    const tmp = `${stateFile}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(tmp, stateFile);
  };
  const log = (msg: string) => process.stdout.write(`--- ${new Date().toISOString()} supervisor: ${msg}\n`);

  let child: ChildProcess | null = null;
  let stopping = false;
  let delay: number | null = null;
  let timer: NodeJS.Timeout | null = null;

  const start = () => {
    timer = null;
    const startedAt = Date.now();
    // Same process group and the same stdout/stderr (the service's log file).
    const c = spawn(cmd, args, { stdio: 'inherit', env: process.env });
    child = c;
    c.on('error', (err) => log(`starting the service failed: ${err.message}`));
    Object.assign(state, {
      pid: c.pid ?? null,
      state: 'running',
      startedAtMs: startedAt,
      nextStartAtMs: null,
    });
    save();
    c.on('exit', (code, signal) => {
      child = null;
      const now = Date.now();
      state.lastExit = { code, signal, atMs: now, uptimeMs: now - startedAt };
      state.pid = null;
      if (stopping) {
        state.state = 'stopped';
        save();
        process.exit(0);
      }
      delay = nextBackoff(policy, delay, now - startedAt);
      Object.assign(state, recordRestart(policy, state.recentRestartsMs, now));
      state.restarts++;
      state.state = 'backoff';
      state.nextStartAtMs = now + delay;
      save();
      log(
        `service exited (${signal ?? `code ${code}`}) after ${now - startedAt} ms; restart ${state.restarts} in ${delay} ms` +
          (state.crashLoop ? ` (crash loop: ${state.recentRestartsMs.length} restarts in the window)` : ''),
      );
      timer = setTimeout(start, delay);
    });
  };

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    state.state = 'stopping';
    save();
    if (timer) clearTimeout(timer);
    if (child === null) {
      state.state = 'stopped';
      save();
      process.exit(0);
    }
    // The service may have had the signal already (sent to the group); a second SIGTERM is harmless.
    child.kill(signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  start();
}

if (import.meta.main) {
  const [stateFile, policyJson, cmd, ...args] = process.argv.slice(2);
  if (!stateFile || !policyJson || !cmd) {
    process.stderr.write('usage: supervisor.ts <stateFile> <policyJson> <cmd> [args…]\n');
    process.exit(2);
  }
  supervise(
    stateFile,
    { ...DEFAULT_RESTART_POLICY, ...(JSON.parse(policyJson) as Partial<RestartPolicy>) },
    cmd,
    args,
  );
}
