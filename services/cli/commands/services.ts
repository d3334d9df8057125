/**
 * The long-running processes: `lockstep ingest`, `lockstep reconciler`, `lockstep egress --platform <p>`. Each reads
 * lockstep.yaml ($LOCKSTEP_CONFIG) and runs until SIGTERM/SIGINT. Run them with the telemetry
 * preload (`node --import ./services/core/telemetry/preload.ts bin/lockstep.mjs …`, as
 * `lockstep start` does) to get traces.
 */
import { PLATFORMS } from '../../connectors/registry.ts';
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('prepare')
    .description('apply database migrations, create missing topics, register schemas (idempotent)')
    .option('-c, --config <file>', 'lockstep.yaml')
    .action(async (opts: { config?: string }) => {
      const { loadAppConfig } = await import('../../app/config.ts');
      const { preparePipeline } = await import('../../app/launcher.ts');
      await preparePipeline(loadAppConfig(opts.config), (line) => console.log(line));
    });

  program
    .command('ingest')
    .description('receive webhooks on /webhooks/<platform> and poll each platform; publish change events')
    .action(async () => {
      const { runIngest } = await import('../../ingest/service.ts');
      await runIngest();
    });

  program
    .command('reconciler')
    .description('decide what each linked record must become; publish write commands and conflicts')
    .action(async () => {
      const { runReconciler } = await import('../../reconciler/service.ts');
      await runReconciler();
    });

  program
    .command('egress')
    .description("apply one platform's write commands through its official SDK")
    .requiredOption('--platform <platform>', PLATFORMS.join(' | '))
    .action(async (opts: { platform: string }) => {
      const { runEgress } = await import('../../egress/service.ts');
      await runEgress(opts.platform);
    });
}
