#!/usr/bin/env node
// Entry point of the `lockstep` CLI. The project pins its own Node.js (the `node` devDependency);
// npm scripts and `npx lockstep` put node_modules/.bin first on PATH, so this runs on that runtime.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `lockstep needs Node.js 24 (found ${process.versions.node}). Run it through the checkout's pinned runtime: ` +
      '`npm install` once, then `npx lockstep …` or `npm start`.',
  );
  process.exit(1);
}
await import('../services/cli/main.ts');
