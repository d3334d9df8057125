/**
 * `lockstep webhooks register --platform <p> --url <u>`: creates the platform's webhook pointing at
 * ingest, signed with the connector's configured `webhookSecret` (so ingest can verify what arrives),
 * or, for a platform that hands its secret over in a handshake, with the secret ingest learns
 * while this command holds the registration window open (ingest must be running and reachable at
 * `--url`). Needs admin rights on the platform.
 */
import type { Command } from 'commander';
import { boundConnectors, loadAppConfig } from '../../app/config.ts';
import { isPlatform, PLATFORMS } from '../../connectors/registry.ts';
import { registerWebhook } from '../../ingest/register.ts';

/** The section's configured signing secret, for a platform whose webhooks are signed with one. */
function configuredSecret(section: unknown): string | null {
  const s = (section as { webhookSecret?: { reveal(): string } }).webhookSecret;
  return s ? s.reveal() : null;
}

export function register(program: Command): void {
  const webhooks = program.command('webhooks').description('Manage platform webhooks that feed ingest');
  webhooks
    .command('register')
    .description('Create a webhook on a platform that posts to Lockstep ingest')
    .requiredOption('--platform <platform>', `one of: ${PLATFORMS.join(', ')}`)
    .requiredOption(
      '--url <url>',
      'public URL of ingest for this platform, e.g. https://sync.example.com/webhooks/<platform>',
    )
    .option('--config <file>', 'lockstep.yaml (default: $LOCKSTEP_CONFIG or ./lockstep.yaml)')
    .option('--json', 'one JSON object per webhook created: {platform, id, url}')
    .action(async (opts: { platform: string; url: string; config?: string; json?: boolean }) => {
      if (!isPlatform(opts.platform))
        throw new Error(
          `registering webhook: unknown platform ${opts.platform} (known: ${PLATFORMS.join(', ')})`,
        );
      const url = new URL(opts.url).toString();
      const config = loadAppConfig(opts.config);
      const section = config.connectors[opts.platform];
      const connector = boundConnectors(config).get(opts.platform);
      if (!section || !connector)
        throw new Error(`registering webhook: connectors.${opts.platform} is not configured`);
      const created = await registerWebhook(connector, {
        url,
        secret: configuredSecret(section),
        postgresUrl: config.postgres.url,
      });
      for (const w of created)
        process.stdout.write(
          opts.json
            ? `${JSON.stringify({ platform: opts.platform, id: w.id, url: w.url })}\n`
            : `${opts.platform} webhook ${w.id} → ${w.url}\n`,
        );
    });
}
