/**
 * Preload for every Lockstep process: `node --import ./services/core/telemetry/preload.ts app.ts`.
 * The import-in-the-middle loader hook must be registered before the app's static
 * `import … from 'kafkajs'` is evaluated, or kafkajs is never patched under ESM (PLATFORMS.md §5).
 * Hence: register first, then import the rest dynamically (static imports would be hoisted).
 * Any failure here only disables tracing; the app still starts and reports config errors itself.
 */
import { register } from 'node:module';

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);

try {
  const { loadConfig, coreConfigShape } = await import('../config/index.ts');
  const { z } = await import('zod');
  const { startTelemetry } = await import('./telemetry.ts');
  // Only the core sections matter here, and a service's lockstep.yaml also has connectors, flows, …
  // which the service itself validates: parse leniently (unknown top-level keys are dropped).
  const config = loadConfig(undefined, process.env, z.object(coreConfigShape));
  const report = (err: unknown) =>
    process.stderr.write(`lockstep telemetry: ${err instanceof Error ? err.message : String(err)}\n`);
  const telemetry = startTelemetry(config.telemetry, { onError: report });
  // Flush spans on a normal exit; the app's own shutdown may also call telemetry.shutdown().
  process.once('beforeExit', () => void telemetry.shutdown());
} catch (err) {
  process.stderr.write(`lockstep telemetry disabled: ${err instanceof Error ? err.message : String(err)}\n`);
}
