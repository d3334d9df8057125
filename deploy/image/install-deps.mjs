// The Dockerfile's dependency step: `npm ci` of the production dependencies, then the patches in
// patches/ (what the `postinstall` script does on a checkout). Install scripts are off: npm runs
// them through `sh`, which a shell-less base image lacks, and none is needed in production (the
// optional local-stack Postgres is omitted; protobufjs's only prints a version notice). patch-package
// is therefore run here, directly, and fails the build if a patch does not apply.
// Runs on the image's Node, with only what Node ships.
//
// Build arguments (the Dockerfile passes them through as environment): NPM_OFFLINE=1 installs from
// the npm cache only, NPM_CACHE_DIR names that cache. The image test uses both with the host's
// npm cache mounted (`podman build -v`): no download, no registry or proxy certificate needed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

// npm sits beside node as in every official Node.js distribution: <prefix>/bin/node,
// <prefix>/lib/node_modules/npm.
const npmCli = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
if (!existsSync(npmCli)) {
  console.error(`installing dependencies: npm not found at ${npmCli} (the base image needs Node's npm)`);
  process.exit(1);
}

function run(what, args) {
  console.log(`> ${what}`);
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`installing dependencies: ${what} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const offline = process.env.NPM_OFFLINE === '1';
const cache = process.env.NPM_CACHE_DIR;
run(`npm ci (production, no optional, no scripts${offline ? ', offline' : ''})`, [
  npmCli,
  'ci',
  '--omit=dev',
  '--omit=optional',
  '--ignore-scripts',
  '--no-audit',
  '--no-fund',
  '--loglevel=warn',
  ...(offline ? ['--offline'] : []),
  ...(cache ? ['--cache', cache] : []),
]);
run('patch-package', ['node_modules/patch-package/index.js', '--error-on-fail']);
