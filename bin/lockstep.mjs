#!/usr/bin/env node
// Entry point of the `lockstep` CLI. The project pins its own Node.js (the `node` devDependency);
// npm scripts and `npx lockstep` put node_modules/.bin first on PATH, so this normally runs on
// that runtime already. Started by an older Node (e.g. `./bin/lockstep.mjs` with the machine's
// Node 20), it hands over to the pinned one when it is installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const pinned = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
  if (!existsSync(pinned)) {
    console.error(
      `lockstep needs Node.js 24 (found ${process.versions.node}) and the checkout's pinned runtime is not installed: ` +
        'run `npm start` (it installs the npm dependencies first) or `npm ci`.',
    );
    process.exit(1);
  }
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  if (r.error) {
    console.error(`lockstep: running ${pinned}: ${r.error.message}`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}
await import('../services/cli/main.ts');
