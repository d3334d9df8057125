// `npm test`: typecheck, check the generated schema types are current, then ONE `node --test` run
// over every test file with the shared test stack (test/stack/global-setup.ts) started once.
// The test runner's summary is the last thing printed and its exit code is ours.
// LOCKSTEP_KEEP_TEST_STACK=1 leaves the test stack running for faster reruns (see deploy/local/README.md).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const node = process.execPath;

function step(title, args) {
  process.stderr.write(`\n> ${title}\n`);
  const r = spawnSync(node, args, { cwd: root, stdio: 'inherit' });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

// npm runs this with node_modules/.bin first on PATH, i.e. on the pinned Node 24 once `pretest`
// (scripts/ensure-deps.mjs) has installed it. Started by an older Node anyway, hand over to it.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const pinned = join(root, 'node_modules', '.bin', 'node');
  if (!existsSync(pinned)) {
    console.error(
      `npm test needs the checkout's Node 24 (found ${process.versions.node}), which is not installed; run \`npm test\` (its pretest step installs it) or \`npm ci\`.`,
    );
    process.exit(1);
  }
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}

for (const [title, args] of [
  ['typecheck (tsc)', [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']],
  ['generated schema types are current', ['scripts/gen-types.ts', '--check']],
]) {
  const code = step(title, args);
  if (code !== 0) {
    console.error(`\nnpm test: ${title} failed (exit ${code})`);
    process.exit(code);
  }
}

// Two cores: two test files at a time; the stack's JVMs take the rest.
process.exitCode = step('tests (node --test, shared test stack)', [
  '--test',
  '--test-global-setup=test/stack/global-setup.ts',
  '--test-concurrency=2',
  'services/**/*.test.ts',
  'test/**/*.test.ts',
]);
