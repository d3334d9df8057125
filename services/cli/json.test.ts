/**
 * Every `lockstep` command a script might call has `--json`. The exceptions are the processes that
 * run until stopped (their output is JSON log lines already) and `topics tail` (it prints the
 * decoded records as JSON lines, nothing else).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from './program.ts';

const NOT_ONE_SHOT: Record<string, string> = {
  admin: 'serves the status page until stopped; logs JSON lines',
  sandbox: 'runs the emulators in the foreground until stopped',
  start: 'runs the pipeline in the foreground until stopped',
  prepare: "the services' set-up step (a Kubernetes Job); logs JSON lines",
  ingest: 'a service; logs JSON lines',
  reconciler: 'a service; logs JSON lines',
  egress: 'a service; logs JSON lines',
  'topics tail': 'prints the decoded records as JSON lines and nothing else',
};

function leaves(c: Command, path: string[] = []): { path: string; cmd: Command }[] {
  if (c.commands.length === 0) return [{ path: path.join(' '), cmd: c }];
  return c.commands.flatMap((s) => leaves(s, [...path, s.name()]));
}

test('every one-shot command has --json', async () => {
  const program = await buildProgram();
  const all = leaves(program);
  assert.ok(all.length > 20, `found only ${all.length} commands`);
  const missing = all
    .filter(({ path }) => !(path in NOT_ONE_SHOT))
    .filter(({ cmd }) => !cmd.options.some((o) => o.long === '--json'))
    .map(({ path }) => path);
  assert.deepEqual(missing, [], `commands without --json: ${missing.join(', ')}`);
  for (const name of Object.keys(NOT_ONE_SHOT))
    assert.ok(
      all.some((l) => l.path === name),
      `the exception ${name} is no longer a command: drop it`,
    );
});
