/**
 * `lockstep status` is the stack's status plus sections other modules add (sandbox, ingest, …):
 * a module calls `addStatusSection('sandbox', collect)` when it is loaded (CLI command files are
 * all loaded before the command runs), and its object appears under that key. A section whose
 * `healthy` is false makes the whole status unhealthy.
 */
import { stackStatus, type StackStatus } from './stack.ts';
import type { StackOptions } from './types.ts';

export type StatusSectionValue = { healthy?: boolean } & Record<string, unknown>;
export type StatusSection = (o: StackOptions) => Promise<StatusSectionValue>;

const sections = new Map<string, StatusSection>();

const RESERVED = new Set([
  'healthy',
  'instance',
  'stateDir',
  'cacheDir',
  'kafka',
  'registry',
  'postgres',
  'jaeger',
  'components',
]);

export function addStatusSection(name: string, collect: StatusSection): void {
  if (RESERVED.has(name))
    throw new Error(`adding status section ${name}: the name is taken by the stack itself`);
  if (sections.has(name)) throw new Error(`adding status section ${name}: already added`);
  sections.set(name, collect);
}

export type FullStatus = StackStatus & Record<string, unknown>;

export async function collectStatus(o: StackOptions): Promise<FullStatus> {
  const stack = await stackStatus(o);
  const extra = await Promise.all(
    [...sections].map(async ([name, collect]): Promise<[string, StatusSectionValue]> => {
      try {
        return [name, await collect(o)];
      } catch (err) {
        return [name, { healthy: false, error: `collecting ${name} status: ${(err as Error).message}` }];
      }
    }),
  );
  const healthy = stack.healthy && extra.every(([, v]) => v.healthy !== false);
  return { ...stack, ...Object.fromEntries(extra), healthy };
}
