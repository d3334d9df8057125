/**
 * The `lockstep` CLI. Every file in ./commands exports `register(program)`; adding a command is
 * adding a file, so no shared list has to be edited.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { displayNames } from '../connectors/registry.ts';

export interface CommandModule {
  register(program: Command): void;
}

const program = new Command()
  .name('lockstep')
  .description(`Two-way sync between ${displayNames()} over Kafka`)
  .showHelpAfterError();

const dir = join(import.meta.dirname, 'commands');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .sort();
for (const file of files) {
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as Partial<CommandModule>;
  if (typeof mod.register !== 'function')
    throw new Error(`loading CLI command ${file}: no register() export`);
  mod.register(program);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Expected failures (bad config, a component that will not start) are reported as one clear
  // message; LOCKSTEP_DEBUG=1 shows the stack too.
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`lockstep: ${message}\n`);
  if (process.env['LOCKSTEP_DEBUG'] === '1' && err instanceof Error && err.stack)
    process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}
