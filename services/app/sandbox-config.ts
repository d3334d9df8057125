/**
 * The configuration `lockstep start` generates when no platform is configured: the demo flow
 * between the sandbox sides of the registered connectors, against the EMULATORS started by
 * `lockstep sandbox` (test/emulators). Every platform-specific part (connector section, demo
 * credentials, status names, workspace) is the connector's `sandbox` facts; the credentials are
 * the emulators' demo tokens — they open nothing real.
 */
import type { StackEndpoints } from '../../deploy/local/stack.ts';
import { CONNECTORS, KNOWN_PLATFORMS } from '../connectors/registry.ts';
import type { PlatformFacts } from '../connectors/types.ts';

export type { SandboxEndpoints } from '../../test/emulators/sandbox.ts';

/** `.lockstep/sandbox.json` read without naming platforms: platform → { endpoint key → URL }, and more. */
export type SandboxEndpointsFile = Readonly<Record<string, unknown>>;

/** The emulators' demo credentials, environment variable → value (each connector's `sandbox.credentials`). */
export const SANDBOX_CREDENTIALS: Readonly<Record<string, string>> = Object.assign(
  {},
  ...KNOWN_PLATFORMS.map((f) => f.sandbox.credentials ?? {}),
);

/** The URL the platform's SDK is pointed at in the sandbox, or undefined when the file lacks it. */
export function sandboxEndpoint(sandbox: SandboxEndpointsFile, facts: PlatformFacts): string | undefined {
  const entry = sandbox[facts.platform];
  const url =
    typeof entry === 'object' && entry !== null ? Object(entry)[facts.sandbox.endpointKey] : undefined;
  return typeof url === 'string' ? url : undefined;
}

/** The platforms with a connector and a sandbox side: the sides of the demo flow, in registry order. */
export const SANDBOX_SIDES: readonly (PlatformFacts & {
  sandbox: { side: { workspace: string; describe: string } };
})[] = Object.values(CONNECTORS).filter(
  (f): f is typeof f & { sandbox: { side: { workspace: string; describe: string } } } =>
    f.sandbox.side !== undefined,
);

/**
 * The status names of the emulators' default workflows for a flow between `platforms`, mapped
 * through flow-level names; a platform whose emulator names a status differently says so in
 * `sandbox.statusNames`. Only the given platforms are named: a flow's statusMap may name only its
 * sides.
 */
export function demoStatusMap(platforms: readonly string[]): Record<string, string>[] {
  return [
    { name: 'Backlog', category: 'backlog' },
    { name: 'Todo', category: 'todo' },
    { name: 'In Progress', category: 'in_progress' },
    { name: 'Done', category: 'done' },
    { name: 'Canceled', category: 'canceled' },
  ].map((entry) => {
    const out: Record<string, string> = { ...entry };
    for (const f of KNOWN_PLATFORMS) {
      const there = f.sandbox.statusNames?.[entry.name];
      if (there !== undefined && platforms.includes(f.platform)) out[f.platform] = there;
    }
    return out;
  });
}

/** The demo flow's status map: between the sandbox sides. */
export const DEMO_STATUS_MAP: Record<string, string>[] = demoStatusMap(SANDBOX_SIDES.map((f) => f.platform));

export function sandboxConfig(
  stack: StackEndpoints,
  sandbox: SandboxEndpointsFile,
  opts: { ingestPort?: number; pollIntervalMs?: number } = {},
): Record<string, unknown> {
  const connectors: Record<string, unknown> = {};
  for (const f of SANDBOX_SIDES) {
    const endpoint = sandboxEndpoint(sandbox, f);
    if (endpoint === undefined || !f.sandbox.section)
      throw new Error(`writing the sandbox config: the sandbox file has no ${f.platform} endpoint`);
    connectors[f.platform] = f.sandbox.section(endpoint);
  }
  return {
    kafka: { brokers: [stack.kafka.bootstrap] },
    registry: { url: stack.registry.url },
    postgres: { url: stack.postgres.url },
    telemetry: { otlpHttpEndpoint: `${stack.jaeger.otlpHttp.replace(/\/$/, '')}/v1/traces` },
    connectors,
    flows: [
      {
        id: 'sandbox-eng',
        sides: SANDBOX_SIDES.map((f) => ({
          platform: f.platform,
          workspace: f.sandbox.side.workspace,
          ...(f.sandbox.side.entityType && { entityType: f.sandbox.side.entityType }),
        })),
        fields: { default: 'last-write-wins', labels: 'merge' },
        statusMap: DEMO_STATUS_MAP,
      },
    ],
    ingest: {
      ...(opts.ingestPort ? { port: opts.ingestPort } : {}),
      pollIntervalMs: opts.pollIntervalMs ?? 30_000,
    },
  };
}
