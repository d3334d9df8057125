/**
 * A Node 24 base image made here, for building the Dockerfile where images cannot be pulled (the
 * machines Lockstep is developed on). The Dockerfile's default base stays the official Node image;
 * this one has the same layout — node at /usr/local/bin/node, npm at /usr/local/lib/node_modules/npm
 * — and nothing else: the checkout's pinned Node binary (the `node` devDependency), the shared
 * libraries it links (from this machine, Debian 12's glibc like bookworm images), the npm that
 * runs the tests, and /etc/passwd, group and nsswitch.conf. No shell: the Dockerfile needs none.
 *
 * It is a root filesystem put together in a directory and turned into an image by
 * `podman import`: about 3 s. (mmdebstrap makes a full Debian root filesystem from packages
 * instead; it would still need this Node binary copied in, and takes minutes.)
 *
 * Cached: the tag is a hash of every input (the bytes of node, of each library and of npm's
 * package.json, and this file), so a rebuild happens only when one of them changes. Two runs
 * building the same tag at once each import under a private tag and then tag the result: both
 * images are equivalent, the last tag wins.
 *
 * By hand: `node deploy/image/local-base.ts` prints the tag (building it if needed);
 * `--env` prints the podman environment (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF) to export.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CHECKOUT_ROOT } from '../local/stack.ts';
import { openPodman, type Podman } from './podman.ts';

export const BASE_REPOSITORY = 'localhost/lockstep-node-base';

/** The checkout's pinned Node binary (the `node` devDependency's, what node_modules/.bin/node is). */
function pinnedNode(): string {
  const link = join(CHECKOUT_ROOT, 'node_modules', '.bin', 'node');
  try {
    return realpathSync(link);
  } catch {
    throw new Error(`finding Node for the base image: ${link} is missing (run \`npm ci\`)`);
  }
}

/** Shared libraries the binary links, as ldd resolves them: [path in the image, file on this machine]. */
function sharedLibraries(binary: string): [string, string][] {
  const r = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`reading the libraries of ${binary}: ldd failed: ${r.stderr}`);
  const libs: [string, string][] = [];
  for (const line of r.stdout.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push([m[1]!, realpathSync(m[1]!)]);
  }
  if (!libs.some(([p]) => basename(p).startsWith('libc.so')))
    throw new Error(`reading the libraries of ${binary}: ldd named no libc:\n${r.stdout}`);
  return libs;
}

/** The npm package that is running (or is on PATH): its directory. */
function npmDir(): string {
  const r = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' });
  const dir = r.status === 0 ? join(r.stdout.trim(), 'npm') : '';
  try {
    JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    return realpathSync(dir);
  } catch {
    throw new Error(
      `finding npm for the base image: \`npm root -g\` gave ${dir || 'nothing'} and no npm package is there`,
    );
  }
}

interface Inputs {
  node: string;
  libs: [string, string][];
  npm: string;
  key: string;
}

function inputs(): Inputs {
  const node = pinnedNode();
  const libs = sharedLibraries(node);
  const npm = npmDir();
  const h = createHash('sha256');
  h.update(readFileSync(new URL(import.meta.url)));
  h.update(readFileSync(node));
  for (const [path, file] of libs) h.update(path).update(readFileSync(file));
  h.update(readFileSync(join(npm, 'package.json')));
  return { node, libs, npm, key: h.digest('hex').slice(0, 16) };
}

function nodeVersion(node: string): string {
  const r = spawnSync(node, ['--version'], { encoding: 'utf8' });
  return r.stdout.trim();
}

/** The root filesystem, in a fresh directory. */
function makeRootfs(i: Inputs, dir: string): void {
  for (const d of ['usr/local/bin', 'usr/local/lib/node_modules', 'usr/bin', 'usr/sbin', 'etc', 'root'])
    mkdirSync(join(dir, d), { recursive: true });
  // Merged /usr, as Debian 12 (and bookworm images) have it.
  for (const d of ['bin', 'sbin', 'lib', 'lib64']) {
    mkdirSync(join(dir, 'usr', d), { recursive: true });
    symlinkSync(`usr/${d}`, join(dir, d));
  }
  mkdirSync(join(dir, 'tmp'));
  chmodSync(join(dir, 'tmp'), 0o1777);
  copyFileSync(i.node, join(dir, 'usr/local/bin/node'));
  chmodSync(join(dir, 'usr/local/bin/node'), 0o755);
  for (const [path, file] of i.libs) {
    const target = join(dir, 'usr', path.replace(/^\/usr\//, '/'));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(file, target);
  }
  cpSync(i.npm, join(dir, 'usr/local/lib/node_modules/npm'), { recursive: true, verbatimSymlinks: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(dir, 'usr/local/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(dir, 'usr/local/bin/npx'));
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/usr/sbin/nologin\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(dir, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
}

async function imageExists(podman: Podman, ref: string): Promise<boolean> {
  const r = await podman.run(['image', 'exists', ref], {
    what: `looking for ${ref}`,
    timeoutMs: 120_000,
    allowFailure: true,
  });
  return r.code === 0;
}

/**
 * The base image's reference, built unless an image with the same inputs exists.
 * `log` gets one line per step.
 */
export async function ensureLocalBase(
  podman: Podman,
  log: (line: string) => void = () => undefined,
): Promise<{ ref: string; built: boolean; nodeVersion: string }> {
  const i = inputs();
  const ref = `${BASE_REPOSITORY}:${i.key}`;
  const version = nodeVersion(i.node);
  if (await imageExists(podman, ref)) return { ref, built: false, nodeVersion: version };
  log(`building ${ref} (Node ${version}, npm from ${i.npm}, ${i.libs.length} libraries)`);
  const work = mkdtempSync(join(dirname(podman.env['CONTAINERS_CONF'] ?? '/tmp'), 'base-'));
  try {
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs);
    makeRootfs(i, rootfs);
    const tar = join(work, 'rootfs.tar');
    const t = spawnSync('tar', ['-C', rootfs, '--numeric-owner', '--owner=0', '--group=0', '-cf', tar, '.']);
    if (t.status !== 0) throw new Error(`packing the base root filesystem: tar failed: ${t.stderr}`);
    const privateRef = `${BASE_REPOSITORY}:tmp-${randomBytes(4).toString('hex')}`;
    await podman.run(
      [
        'import',
        '--quiet',
        '--change',
        'ENV PATH=/usr/local/bin:/usr/bin:/bin',
        '--change',
        `ENV NODE_VERSION=${version.replace(/^v/, '')}`,
        '--change',
        'CMD ["node"]',
        '--message',
        `Lockstep local Node base (inputs ${i.key})`,
        tar,
        privateRef,
      ],
      { what: 'importing the base image', timeoutMs: 600_000 },
    );
    await podman.run(['tag', privateRef, ref], { what: 'tagging the base image', timeoutMs: 120_000 });
    await podman.run(['untag', privateRef, privateRef], {
      what: 'untagging the base image',
      timeoutMs: 120_000,
    });
    return { ref, built: true, nodeVersion: version };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  try {
    const podman = await openPodman();
    if (process.argv.includes('--env')) {
      console.log(`export CONTAINERS_CONF=${podman.env['CONTAINERS_CONF']}`);
      console.log(`export CONTAINERS_STORAGE_CONF=${podman.env['CONTAINERS_STORAGE_CONF']}`);
    } else {
      const base = await ensureLocalBase(podman, (l) => process.stderr.write(`${l}\n`));
      console.log(base.ref);
    }
  } catch (err) {
    process.stderr.write(`lockstep base image: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
