/**
 * Platform name → connector. Adding a platform is one folder and one line here; the `Platform`
 * type, the config sections (`connectors.<platform>`) and `lockstep egress --platform` all follow
 * from these keys (STYLE.md rule 5: no string links).
 */
import type { z } from 'zod';
import { jiraConnector } from './jira/index.ts';
import { linearConnector } from './linear/index.ts';
import type { BoundConnector, Connector } from './types.ts';

export const CONNECTORS = {
  linear: linearConnector,
  jira: jiraConnector,
} as const;

export type Platform = keyof typeof CONNECTORS;
type SchemaOf<P extends Platform> = (typeof CONNECTORS)[P]['configSchema'];
export type ConnectorConfig<P extends Platform> = z.output<SchemaOf<P>>;

// Each entry's key must equal its `platform`; this fails to compile otherwise.
const typed: { [P in Platform]: Connector<P, SchemaOf<P>> } = CONNECTORS;

export const PLATFORMS = Object.keys(CONNECTORS) as Platform[];

export function isPlatform(name: string): name is Platform {
  return Object.hasOwn(CONNECTORS, name);
}

/** The connector for `platform` with its parsed config closed over. */
export function bindConnector<P extends Platform>(
  platform: P,
  config: ConnectorConfig<P>,
): BoundConnector<P> {
  const connector: Connector<P, SchemaOf<P>> = typed[platform];
  return connector.bind(config);
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
