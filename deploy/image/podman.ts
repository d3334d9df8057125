/**
 * Podman as the image test (and a person trying the image here) runs it on these machines: as
 * root, with `runc` (crun fails on the hybrid cgroups), the cgroupfs manager and file events (no
 * systemd), no default ulimits (refused here), host networking per command — and storage of its
 * own under the Lockstep cache, so nothing in /etc/containers or /var/lib/containers is changed or
 * shared with other users of podman on the machine.
 *
 * Those settings go in a containers.conf and a storage.conf under <cache>/podman, named by
 * CONTAINERS_CONF and CONTAINERS_STORAGE_CONF in the environment of every podman this module
 * starts; they are rewritten on each use (idempotent). To run podman by hand with the same
 * settings: `node deploy/image/local-base.ts --env` prints the two variables.
 *
 * Storage: native overlay when the kernel and the cache's filesystem support it (this machine's
 * ext4 does: starting a container is ~0.3 s), else vfs (every container and every build step is a
 * full copy of the image: ~2.7 s per container for the 145 MB base alone, and minutes per build
 * under load). LOCKSTEP_PODMAN_STORAGE_DRIVER=vfs|overlay forces one.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { localStackEnv } from '../local/config.ts';

export interface PodmanResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface PodmanRunOptions {
  /** Upper bound; the process is killed after it and the call rejects saying so. */
  timeoutMs: number;
  /** What is being done, for error messages ("building the image"). */
  what: string;
  /** Output is also appended here as it arrives (long builds). */
  onOutput?: (chunk: string) => void;
  /** Resolve with a non-zero exit instead of rejecting. */
  allowFailure?: boolean;
}

export class PodmanError extends Error {
  readonly result: PodmanResult | undefined;
  constructor(message: string, result?: PodmanResult) {
    super(message);
    this.name = 'PodmanError';
    this.result = result;
  }
}

export interface Podman {
  driver: 'overlay' | 'vfs';
  /** The environment podman runs with (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF). */
  env: NodeJS.ProcessEnv;
  run(args: string[], opts: PodmanRunOptions): Promise<PodmanResult>;
}

const CONTAINERS_CONF = `# Written by deploy/image/podman.ts (rewritten on each use).
[containers]
# The default nofile/nproc ulimits are refused on these machines.
default_ulimits = []
log_driver = "k8s-file"

[engine]
# crun fails on the hybrid cgroups here; runc works. No systemd: cgroupfs, events to a file.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`;

function tail(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Why podman cannot be used here, or undefined when `podman` and `runc` are installed. */
export function podmanMissing(): string | undefined {
  const missing = ['podman', 'runc'].filter((cmd) => spawnSync(cmd, ['--version']).status !== 0);
  if (missing.length === 0) return undefined;
  return (
    `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not installed: ` +
    '`apt-get install -y podman runc` (Debian; .ci/run installs them)'
  );
}

function configure(root: string, driver: 'overlay' | 'vfs'): NodeJS.ProcessEnv {
  const dir = join(root, driver);
  mkdirSync(dir, { recursive: true });
  const containersConf = join(root, 'containers.conf');
  const storageConf = join(dir, 'storage.conf');
  writeFileSync(containersConf, CONTAINERS_CONF);
  writeFileSync(
    storageConf,
    `# Written by deploy/image/podman.ts (rewritten on each use).\n[storage]\ndriver = "${driver}"\n` +
      `graphroot = "${join(dir, 'storage')}"\nrunroot = "${join(dir, 'run')}"\n`,
  );
  return { ...process.env, CONTAINERS_CONF: containersConf, CONTAINERS_STORAGE_CONF: storageConf };
}

function runWith(env: NodeJS.ProcessEnv, args: string[], opts: PodmanRunOptions): Promise<PodmanResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('podman', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      opts.onOutput?.(c);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      opts.onOutput?.(c);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new PodmanError(
          `${opts.what}: ${err.code === 'ENOENT' ? (podmanMissing() ?? 'podman not found') : err.message}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout, stderr };
      if (timedOut)
        reject(
          new PodmanError(
            `${opts.what}: podman ${args[0]} did not finish within ${Math.round(opts.timeoutMs / 1000)} s ` +
              `(killed)\n${tail(stderr || stdout)}`,
            result,
          ),
        );
      else if (code !== 0 && !opts.allowFailure)
        reject(
          new PodmanError(
            `${opts.what}: podman ${args.slice(0, 2).join(' ')} failed (${signal ?? `exit ${code}`})\n` +
              tail(stderr || stdout),
            result,
          ),
        );
      else resolve(result);
    });
  });
}

/**
 * Podman configured as above. Throws with the install command when podman or runc is missing.
 * The storage driver is probed once per process: overlay if `podman info` accepts it.
 */
export async function openPodman(): Promise<Podman> {
  const missing = podmanMissing();
  if (missing) throw new PodmanError(missing);
  const env = localStackEnv();
  const root = join(env.cacheDir, 'podman');
  const forced = env.podmanStorageDriver;
  let driver: 'overlay' | 'vfs' = forced ?? 'overlay';
  let podEnv = configure(root, driver);
  if (!forced) {
    const probe = await runWith(podEnv, ['info', '--format', '{{.Store.GraphDriverName}}'], {
      what: 'checking podman overlay storage',
      timeoutMs: 120_000,
      allowFailure: true,
    });
    if (probe.code !== 0 || probe.stdout.trim() !== 'overlay') {
      driver = 'vfs';
      podEnv = configure(root, driver);
    }
  }
  return { driver, env: podEnv, run: (args, opts) => runWith(podEnv, args, opts) };
}
