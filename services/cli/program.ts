/**
 * The `lockstep` command tree. Every file in ./commands exports `register(program)`; adding a
 * command is adding a file, so no shared list has to be edited.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { displayNames } from '../connectors/registry.ts';

export interface CommandModule {
  register(program: Command): void;
}

export async function buildProgram(): Promise<Command> {
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
  return program;
}
