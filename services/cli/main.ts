/** The `lockstep` CLI: the command tree (program.ts) run on the process's arguments. */
import { buildProgram } from './program.ts';

export type { CommandModule } from './program.ts';

const program = await buildProgram();
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
