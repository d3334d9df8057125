/**
 * Platform name → connector. Adding a platform is one folder and one line here; the `Platform`
 * type, the config sections (`connectors.<platform>`), `lockstep egress --platform`, the commands
 * topics, the egress ports, the log redaction, the request budgets and the sandbox all follow from
 * these entries (STYLE.md rule 5: no string links). Shared code never names a platform:
 * registry.test.ts fails, with file and line, when a file outside connectors/ and test/ does.
 */
import type { z } from 'zod';
import { asanaConnector } from './asana/index.ts';
import { jiraConnector } from './jira/index.ts';
import { linearConnector } from './linear/index.ts';
import { slackConnector } from './slack/index.ts';
import type { BoundConnector, Connector, FlowFacts, PlatformFacts, RateLimit } from './types.ts';

export const CONNECTORS = {
  linear: linearConnector,
  jira: jiraConnector,
  asana: asanaConnector,
  slack: slackConnector,
} as const;

export type Platform = keyof typeof CONNECTORS;
type SchemaOf<P extends Platform> = (typeof CONNECTORS)[P]['configSchema'];
export type ConnectorConfig<P extends Platform> = z.output<SchemaOf<P>>;

// Each entry's key must equal its `platform`; this fails to compile otherwise.
const typed: { [P in Platform]: Connector<P, SchemaOf<P>> } = CONNECTORS;

/** The platforms with a connector, in registry order. */
export const PLATFORMS = Object.keys(CONNECTORS) as Platform[];

/** Every platform Lockstep knows (each has a connector now; kept for the callers that say "known"). */
export type KnownPlatform = Platform;

/**
 * Every platform's facts, connectors first, in registry order. The order is a contract: egress
 * for the platform at index i listens on `egress.port + i` (keep existing entries where they are).
 */
export const KNOWN_PLATFORMS: readonly PlatformFacts<KnownPlatform>[] = Object.values(CONNECTORS);

export function platformFacts(platform: string): PlatformFacts<KnownPlatform> | undefined {
  return KNOWN_PLATFORMS.find((f) => f.platform === platform);
}

/** The platforms that get a `lockstep.commands.<platform>.v1` topic. */
export const COMMAND_PLATFORMS: readonly KnownPlatform[] = KNOWN_PLATFORMS.map((f) => f.platform);

/** The header names every platform signs or authenticates with, for log redaction (core/logging). */
export const SECRET_HEADERS: readonly string[] = [
  ...new Set(KNOWN_PLATFORMS.flatMap((f) => f.secretHeaders)),
];

/** The published request budget of `platform`, or undefined for a name that is not a platform. */
export function defaultRateLimit(platform: string): RateLimit | undefined {
  return platformFacts(platform)?.rateLimit;
}

/** `platform`'s index in KNOWN_PLATFORMS (its egress port offset); 0 for a name that is not one. */
export function platformIndex(platform: string): number {
  return Math.max(
    0,
    KNOWN_PLATFORMS.findIndex((f) => f.platform === platform),
  );
}

/** `A, B, C and D` of the given platforms' display names (all known platforms by default). */
export function displayNames(platforms: readonly PlatformFacts[] = KNOWN_PLATFORMS): string {
  const names = platforms.map((f) => f.displayName);
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

export function isPlatform(name: string): name is Platform {
  return Object.hasOwn(CONNECTORS, name);
}

/** The connector for `platform` with its parsed config closed over. */
export function bindConnector<P extends Platform>(
  platform: P,
  config: ConnectorConfig<P>,
  flows: FlowFacts = { statuses: [] },
): BoundConnector<P> {
  const connector: Connector<P, SchemaOf<P>> = typed[platform];
  return connector.bind(connector.configureFromFlows ? connector.configureFromFlows(config, flows) : config);
}

/**
 * `label` as `platform` holds it (the connector's `canonicalLabel`; unchanged for platforms that
 * hold any label, and for names that are not a platform). The reconciler compares through it.
 */
export function canonicalLabelOn(platform: string, label: string): string {
  if (!isPlatform(platform)) return label;
  const connector: { canonicalLabel?(label: string): string } = CONNECTORS[platform];
  return connector.canonicalLabel ? connector.canonicalLabel(label) : label;
}
