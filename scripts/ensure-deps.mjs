// `prestart` / `pretest` / `prelint`: makes node_modules match package-lock.json before the real
// script runs. It runs under whatever Node the machine has (npm runs lifecycle scripts with the
// first `node` on PATH, which is the machine's until node_modules/.bin/node exists), so it uses
// only what Node 18+ ships. Once it has installed, npm's PATH for the next script
// (node_modules/.bin first) resolves `node` to the checkout's pinned Node 24.
//
// Up to date means: node_modules/.lockstep-lock.sha256 holds the hash of the current lockfile
// (written after a successful install), or — for a node_modules installed some other way —
// npm's own record of what it installed (node_modules/.package-lock.json) has every package of
// the lockfile at its locked version. Otherwise it runs `npm ci`, which installs exactly the
// lockfile (and runs the `postinstall` patch), printing why.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lockfile = join(root, 'package-lock.json');
const modules = join(root, 'node_modules');
const stamp = join(modules, '.lockstep-lock.sha256');
const pinnedNode = join(modules, '.bin', 'node');
const say = (line) => process.stderr.write(`lockstep: ${line}\n`);

function lockHash() {
  return createHash('sha256').update(readFileSync(lockfile)).digest('hex');
}

/** Why node_modules does not match the lockfile, or undefined when it does. */
function mismatch(hash) {
  if (!existsSync(modules)) return 'node_modules is missing';
  if (!existsSync(pinnedNode)) return 'node_modules has no pinned Node (node_modules/.bin/node)';
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash) return undefined;
  const hidden = join(modules, '.package-lock.json');
  if (!existsSync(hidden)) return 'node_modules was not installed by npm from this lockfile';
  const want = JSON.parse(readFileSync(lockfile, 'utf8')).packages ?? {};
  const have = JSON.parse(readFileSync(hidden, 'utf8')).packages ?? {};
  for (const [path, meta] of Object.entries(want)) {
    if (path === '') continue;
    const got = have[path];
    // Optional packages for other platforms (os/cpu) are in the lockfile but never installed.
    if (got === undefined && (meta.optional || meta.devOptional)) continue;
    if (got === undefined) return `package-lock.json has ${path} but node_modules does not`;
    if (meta.version !== undefined && got.version !== meta.version)
      return `${path} is ${got.version} in node_modules but ${meta.version} in package-lock.json`;
  }
  for (const path of Object.keys(have))
    if (!(path in want)) return `node_modules has ${path}, which package-lock.json does not`;
  return undefined;
}

const hash = lockHash();
const why = mismatch(hash);
if (why === undefined) {
  if (!existsSync(stamp)) writeFileSync(stamp, `${hash}\n`);
} else {
  say(`installing the npm dependencies with \`npm ci\` (${why})…`);
  const t0 = Date.now();
  const npm = process.env.npm_execpath;
  // npm_execpath is the npm that runs this script; use it (through this Node) so the install uses
  // the same npm, else the `npm` on PATH.
  const [cmd, args] = npm ? [process.execPath, [npm, 'ci']] : ['npm', ['ci']];
  // --loglevel=error: npm runs on the machine's Node here, so it would warn that every package
  // wanting Node 22+ (Lockstep itself included) has an unsupported engine; they run on Node 24.
  const r = spawnSync(cmd, [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.error || r.status !== 0) {
    say(
      `installing the npm dependencies failed (${r.error ? r.error.message : `exit ${r.status}`}); fix the error above and run it again`,
    );
    process.exit(r.status || 1);
  }
  writeFileSync(stamp, `${hash}\n`);
  say(`npm dependencies installed in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}
