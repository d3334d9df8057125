/**
 * Request validation against a vendor's published OpenAPI document (shared/specs/). An emulator
 * asks `match()` for the operation behind a request and `validate()` for the problems a real
 * platform would reject it for; the emulator turns the problems into the platform's error shape.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { createRequire } from 'node:module';
import { parse as parseYaml } from 'yaml';
import type addFormatsPlugin from 'ajv-formats';

// ajv-formats is CommonJS; require() hands us the plugin function itself.
const addFormats = createRequire(import.meta.url)('ajv-formats') as typeof addFormatsPlugin.default;

export interface SpecOperation {
  method: string;
  template: string;
  operationId: string | null;
  pathParams: Record<string, string>;
  /** JSON pointer of the operation inside the spec. */
  pointer: string;
}

export interface Problem {
  /** Where: `body/fields/summary`, `query/maxResults`, `path/issueIdOrKey`. */
  where: string;
  message: string;
}

interface Route {
  method: string;
  template: string;
  regex: RegExp;
  names: string[];
  pointer: string;
  op: Record<string, unknown>;
}

/**
 * The vendors' specs, vendored in test/emulators/specs (provenance in its SOURCES.md) so the
 * sandbox and the tests work from any clone. Copies of the project's shared/specs; refresh them
 * only from the same sources.
 */
export const SPECS_DIR = new URL('../specs/', import.meta.url);

export class OpenApiSpec {
  readonly doc: Record<string, unknown>;
  private readonly ajv: Ajv;
  private readonly routes: Route[] = [];
  private readonly cache = new Map<string, ValidateFunction>();
  private readonly basePath: string;

  /** `file` is relative to test/emulators/specs (e.g. `jira/swagger-v3.v3.json`); `basePath` is stripped from request paths. */
  constructor(file: string, basePath = '') {
    const text = readFileSync(new URL(file, SPECS_DIR), 'utf8');
    this.doc = (file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as Record<string, unknown>;
    this.basePath = basePath;
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true, coerceTypes: false });
    addFormats(this.ajv);
    this.ajv.addSchema({ ...(stripTypelessNullable(this.doc) as object), $id: 'spec' }, 'spec');
    const paths = (this.doc['paths'] ?? {}) as Record<string, Record<string, unknown>>;
    for (const [template, item] of Object.entries(paths)) {
      for (const method of ['get', 'put', 'post', 'delete', 'patch']) {
        const op = item[method] as Record<string, unknown> | undefined;
        if (!op) continue;
        const names: string[] = [];
        const pattern = template
          .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
          .replace(/\{([^}]+)\}/g, (_m, n: string) => {
            names.push(n);
            return '([^/]+)';
          });
        this.routes.push({
          method: method.toUpperCase(),
          template,
          regex: new RegExp(`^${pattern}$`),
          names,
          pointer: `#/paths/${escapePointer(template)}/${method}`,
          op: {
            ...op,
            parameters: [
              ...((item['parameters'] as unknown[]) ?? []),
              ...((op['parameters'] as unknown[]) ?? []),
            ],
          },
        });
      }
    }
    // Literal templates win over templated ones (`/issue/picker` before `/issue/{id}`).
    this.routes.sort((a, b) => a.names.length - b.names.length);
  }

  match(method: string, path: string): SpecOperation | null {
    const p = this.basePath && path.startsWith(this.basePath) ? path.slice(this.basePath.length) : path;
    for (const r of this.routes) {
      if (r.method !== method.toUpperCase()) continue;
      const m = r.regex.exec(p);
      if (!m) continue;
      const pathParams: Record<string, string> = {};
      r.names.forEach((n, i) => (pathParams[n] = decodeURIComponent(m[i + 1] ?? '')));
      return {
        method: r.method,
        template: r.template,
        operationId: (r.op['operationId'] as string) ?? null,
        pathParams,
        pointer: r.pointer,
      };
    }
    return null;
  }

  /** Problems with the query and JSON body of a request to `op`; empty when the spec accepts it. */
  validate(
    op: SpecOperation,
    query: URLSearchParams,
    body: unknown,
    contentType = 'application/json',
  ): Problem[] {
    const route = this.routes.find((r) => r.pointer === op.pointer);
    if (!route) return [{ where: 'path', message: 'unknown operation' }];
    const problems: Problem[] = [];
    for (const raw of route.op['parameters'] as Record<string, unknown>[]) {
      const param = this.deref(raw);
      const name = String(param['name']);
      if (param['in'] !== 'query') continue;
      const value = query.get(name);
      if (value === null) {
        if (param['required'] === true) problems.push({ where: `query/${name}`, message: 'is required' });
        continue;
      }
      const schema = param['schema'] as Record<string, unknown> | undefined;
      const type = schema ? this.deref(schema)['type'] : undefined;
      if ((type === 'integer' || type === 'number') && !/^-?\d+(\.\d+)?$/.test(value)) {
        problems.push({ where: `query/${name}`, message: `must be a ${String(type)}` });
      }
      if (type === 'boolean' && value !== 'true' && value !== 'false') {
        problems.push({ where: `query/${name}`, message: 'must be a boolean' });
      }
    }
    const rb = route.op['requestBody']
      ? this.deref(route.op['requestBody'] as Record<string, unknown>)
      : null;
    if (rb) {
      const content = (rb['content'] ?? {}) as Record<string, unknown>;
      const media = Object.keys(content).find((k) => contentType.startsWith(k)) ?? Object.keys(content)[0];
      if (body === undefined) {
        if (rb['required'] === true) problems.push({ where: 'body', message: 'is required' });
      } else if (media) {
        const validate = this.validator(
          `${route.pointer}/requestBody/content/${escapePointer(media)}/schema`,
          rb === route.op['requestBody'],
        );
        if (validate && !validate(body)) {
          for (const e of validate.errors ?? []) {
            const extra =
              e.keyword === 'additionalProperties' ? ` (${String(e.params['additionalProperty'])})` : '';
            problems.push({
              where: `body${e.instancePath}`,
              message: `${e.message ?? 'is invalid'}${extra}`,
            });
          }
        }
      }
    }
    return problems;
  }

  /** Validates any value against a named component schema. */
  validateComponent(name: string, value: unknown): Problem[] {
    const v = this.validator(`#/components/schemas/${escapePointer(name)}`, true);
    if (!v || v(value)) return [];
    return (v.errors ?? []).map((e) => ({
      where: `body${e.instancePath}`,
      message: e.message ?? 'is invalid',
    }));
  }

  private validator(pointer: string, direct: boolean): ValidateFunction | null {
    if (!direct) return null;
    let v = this.cache.get(pointer);
    if (!v) {
      v = this.ajv.compile({ $ref: `spec${pointer}` });
      this.cache.set(pointer, v);
    }
    return v;
  }

  private deref(node: Record<string, unknown>): Record<string, unknown> {
    let n = node;
    for (let i = 0; i < 10 && typeof n['$ref'] === 'string'; i++) {
      const ref = n['$ref'];
      n = ref
        .slice(2)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
        .reduce<Record<string, unknown>>((acc, k) => acc[k] as Record<string, unknown>, this.doc);
    }
    return n;
  }
}

function escapePointer(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** OAS 3.0 allows `nullable` beside `allOf`/`$ref` without a `type`; Ajv refuses that, and it means nothing there. */
function stripTypelessNullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripTypelessNullable);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = stripTypelessNullable(v);
  if ('nullable' in out && !('type' in out)) delete out['nullable'];
  return out;
}
