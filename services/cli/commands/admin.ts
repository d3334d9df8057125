/** `lockstep admin`: the status page (services/admin/), in the foreground. */
import type { Command } from 'commander';
import { startAdmin } from '../../admin/server.ts';
import { loadAppConfig } from '../../app/config.ts';
import { createLogger } from '../../core/logging/index.ts';

export function register(program: Command): void {
  program
    .command('admin')
    .description(
      'serve the status page: services, platforms, flows, latest syncs with their traces, conflicts (resolve), dead letters (retry)',
    )
    .option('-c, --config <file>', 'lockstep.yaml')
    .action(async (opts: { config?: string }) => {
      const config = loadAppConfig(opts.config);
      const logger = createLogger({ level: config.logLevel, name: 'admin' });
      const server = await startAdmin(config, logger);
      logger.info(
        { url: server.url, actions: config.admin.token !== undefined },
        `status page on ${server.url}${config.admin.token === undefined ? ' (read-only: no admin.token)' : ''}`,
      );
    });
}
