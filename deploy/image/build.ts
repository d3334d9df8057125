/**
 * Builds the Dockerfile with podman on a machine that cannot pull images: on the local Node base
 * (./local-base.ts), with the npm dependencies installed from this machine's npm cache (mounted,
 * `npm ci --offline`: no download, no registry certificate needed in the build). What the image
 * test runs; by hand: `node deploy/image/build.ts [--tag localhost/lockstep:dev]`.
 *
 * Elsewhere, build as usual: `docker build -t lockstep .` (the official Node base, npm online).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHECKOUT_ROOT } from '../local/stack.ts';
import { ensureLocalBase } from './local-base.ts';
import { openPodman, type Podman } from './podman.ts';

export interface BuiltImage {
  id: string;
  tag: string;
  base: string;
  baseBuilt: boolean;
  /** Wall time of `podman build` alone, and of the base image step. */
  buildSeconds: number;
  baseSeconds: number;
  output: string;
}

function npmCacheDir(): string {
  const r = spawnSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' });
  const dir = r.stdout.trim();
  if (r.status !== 0 || !dir)
    throw new Error(`building the image: \`npm config get cache\` failed: ${r.stderr}`);
  return dir;
}

function gitRevision(): string {
  const r = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: CHECKOUT_ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

export async function buildImage(
  podman: Podman,
  opts: {
    tag: string;
    timeoutMs: number;
    log?: (line: string) => void;
    /** podman build's output as it comes (progress of a long build). */
    onOutput?: (chunk: string) => void;
  },
): Promise<BuiltImage> {
  const log = opts.log ?? (() => undefined);
  const t0 = Date.now();
  const base = await ensureLocalBase(podman, log);
  const baseSeconds = (Date.now() - t0) / 1000;
  const work = mkdtempSync(join(tmpdir(), 'lockstep-image-'));
  const iidFile = join(work, 'iid');
  const version = (
    JSON.parse(readFileSync(join(CHECKOUT_ROOT, 'package.json'), 'utf8')) as { version: string }
  ).version;
  const t1 = Date.now();
  try {
    // --format docker: the OCI image format has no HEALTHCHECK (podman drops it with a warning).
    const r = await podman.run(
      [
        'build',
        '--format',
        'docker',
        '--network',
        'host',
        '--pull=never',
        '--build-arg',
        `BASE=${base.ref}`,
        '--build-arg',
        'NPM_OFFLINE=1',
        '--build-arg',
        'NPM_CACHE_DIR=/host-npm-cache',
        '--build-arg',
        `VERSION=${version}`,
        '--build-arg',
        `REVISION=${gitRevision()}`,
        '--volume',
        `${npmCacheDir()}:/host-npm-cache`,
        '--iidfile',
        iidFile,
        '--tag',
        opts.tag,
        '--file',
        join(CHECKOUT_ROOT, 'Dockerfile'),
        CHECKOUT_ROOT,
      ],
      { what: 'building the Lockstep image', timeoutMs: opts.timeoutMs, onOutput: opts.onOutput },
    );
    return {
      id: readFileSync(iidFile, 'utf8')
        .trim()
        .replace(/^sha256:/, ''),
      tag: opts.tag,
      base: base.ref,
      baseBuilt: base.built,
      buildSeconds: (Date.now() - t1) / 1000,
      baseSeconds,
      output: r.stdout + r.stderr,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const json = process.argv.includes('--json');
  const i = process.argv.indexOf('--tag');
  const tag = i > 0 ? process.argv[i + 1] : 'localhost/lockstep:dev';
  try {
    if (!tag) throw new Error('--tag needs a value');
    const podman = await openPodman();
    const built = await buildImage(podman, {
      tag,
      timeoutMs: 3_600_000,
      log: (l) => process.stderr.write(`${l}\n`),
      onOutput: (c) => process.stderr.write(c),
    });
    process.stderr.write(
      `base ${built.base} (${built.baseBuilt ? 'built' : 'cached'}, ${built.baseSeconds.toFixed(1)} s); ` +
        `podman build ${built.buildSeconds.toFixed(1)} s (storage: ${podman.driver})\n`,
    );
    if (json) {
      const { output: _output, ...summary } = built;
      console.log(JSON.stringify({ ...summary, storageDriver: podman.driver }));
    } else console.log(`${built.tag} ${built.id}`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (json) console.log(JSON.stringify({ error: message }));
    process.stderr.write(`building the Lockstep image: ${message}\n`);
    process.exit(1);
  }
}
