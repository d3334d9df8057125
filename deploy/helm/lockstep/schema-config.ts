/**
 * The `config` part of the chart's values.schema.json, generated from the zod schema Lockstep
 * validates lockstep.yaml with (services/app/config.ts), so `helm install` refuses a typo in the
 * configuration before anything is deployed, with the same field names and bounds the services
 * check at start. Two changes on the way:
 * - a secret field accepts only `{ env: NAME }` (the services also take a literal string; a chart
 *   must never carry a secret value in values.yaml or a ConfigMap);
 * - `postgres.url` may not carry a password (give the whole URL from a Secret instead:
 *   `postgres.existingSecret`, the LOCKSTEP_POSTGRES_URL override).
 *
 * `node deploy/helm/lockstep/schema-config.ts` rewrites values.schema.json's `config`;
 * test/deploy/helm.test.ts fails when the file is not current.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { appConfigSchema } from '../../../services/app/config.ts';

export const VALUES_SCHEMA = join(import.meta.dirname, 'values.schema.json');

type Node = { [k: string]: unknown };

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The `{ env: NAME }` branch of a `secret()` union (string | { env }), or null. */
function secretRefBranch(node: Node): Node | null {
  const any = node['anyOf'];
  if (!Array.isArray(any) || any.length !== 2) return null;
  const [a, b] = any as unknown[];
  const literal = isNode(a) && a['type'] === 'string';
  const ref =
    isNode(b) &&
    b['type'] === 'object' &&
    isNode(b['properties']) &&
    Object.keys(b['properties']).join() === 'env' &&
    b['additionalProperties'] === false;
  return literal && ref ? b : null;
}

function rewrite(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(rewrite);
  if (!isNode(v)) return v;
  const ref = secretRefBranch(v);
  if (ref)
    return {
      ...(rewrite(ref) as Node),
      description: 'a secret: only { env: NAME } (inject NAME with secretEnv or envFromSecrets)',
    };
  const out: Node = {};
  for (const [k, child] of Object.entries(v)) {
    // Defaults are the services' business (they apply them at start); helm does not use them.
    if (k === 'default' || k === '$schema') continue;
    out[k] =
      k === 'properties' && isNode(child)
        ? Object.fromEntries(Object.entries(child).map(([p, s]) => [p, rewrite(s)]))
        : rewrite(child);
  }
  return out;
}

export function configValuesSchema(): Node {
  const generated = z.toJSONSchema(appConfigSchema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-7',
  });
  const schema = rewrite(generated) as Node;
  const props = schema['properties'] as Node;
  const postgres = props['postgres'] as Node;
  const url = (postgres['properties'] as Node)['url'] as Node;
  (postgres['properties'] as Node)['url'] = {
    ...url,
    not: { pattern: '^postgres(ql)?://[^/@]*:[^/@]*@' },
    description: 'without a password: give the URL with credentials through postgres.existingSecret',
  };
  return { ...schema, description: 'lockstep.yaml (services/app/config.ts); rendered into the ConfigMap' };
}

if (import.meta.main) {
  const values = JSON.parse(readFileSync(VALUES_SCHEMA, 'utf8')) as Node;
  (values['properties'] as Node)['config'] = configValuesSchema();
  writeFileSync(VALUES_SCHEMA, `${JSON.stringify(values, null, 2)}\n`);
  console.log(`wrote ${VALUES_SCHEMA}`);
}
