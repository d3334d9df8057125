/**
 * Argument checks for Slack Web API methods, read from Slack's published Swagger 2.0 document
 * (shared/specs/slack/slack_web_openapi_v2.json). `OpenApiSpec` validates OAS3 request bodies;
 * Slack's spec describes arguments as `formData`/`query` parameters instead, and Slack accepts
 * each argument from the query string, a form body or (for methods that consume JSON) a JSON body,
 * whatever verb the spec lists, so this reads the parameter lists directly.
 */
import { readFileSync } from 'node:fs';
import { SPECS_DIR } from '../common/openapi.ts';

export type ParamType = 'string' | 'number' | 'integer' | 'boolean' | 'json';

/**
 * Arguments that carry JSON: the spec types them `string` (a form body sends them encoded), but in
 * a JSON body Slack takes the array or object itself.
 */
const JSON_VALUED = new Set(['blocks', 'attachments', 'metadata']);

export interface MethodSpec {
  method: string;
  params: Map<string, { type: ParamType; required: boolean }>;
  /** Whether Slack reads a JSON body for this method (the spec's `consumes`). */
  acceptsJson: boolean;
}

/**
 * Arguments Slack added after its last published spec (the spec repository was archived before
 * message metadata shipped in 2022). Source: the method pages on docs.slack.dev and the
 * argument types of @slack/web-api 8.2 (`ChatPostMessageArguments`, `ConversationsHistoryArguments`).
 */
const ADDED_SINCE_SPEC: Record<string, Record<string, ParamType>> = {
  'chat.postMessage': { metadata: 'string', markdown_text: 'string' },
  'chat.update': {
    metadata: 'string',
    reply_broadcast: 'boolean',
    file_ids: 'string',
    markdown_text: 'string',
  },
  'conversations.history': { include_all_metadata: 'boolean' },
  'conversations.replies': { include_all_metadata: 'boolean' },
};

interface SwaggerParam {
  name: string;
  in: string;
  type?: string;
  required?: boolean;
}

export class SlackMethodSpecs {
  private readonly methods = new Map<string, MethodSpec>();

  constructor(file = 'slack/slack_web_openapi_v2.json') {
    const doc = JSON.parse(readFileSync(new URL(file, SPECS_DIR), 'utf8')) as {
      paths: Record<string, Record<string, { parameters?: SwaggerParam[]; consumes?: string[] }>>;
    };
    for (const [path, item] of Object.entries(doc.paths)) {
      const op = item['post'] ?? item['get'];
      if (!op) continue;
      const method = path.replace(/^\//, '');
      const params = new Map<string, { type: ParamType; required: boolean }>();
      for (const p of op.parameters ?? []) {
        // The token travels in the Authorization header; the shell has already resolved it.
        if (p.name === 'token' || (p.in !== 'formData' && p.in !== 'query')) continue;
        const type = JSON_VALUED.has(p.name) ? 'json' : ((p.type ?? 'string') as ParamType);
        params.set(p.name, { type, required: p.required === true });
      }
      for (const [name, type] of Object.entries(ADDED_SINCE_SPEC[method] ?? {}))
        if (!params.has(name))
          params.set(name, { type: JSON_VALUED.has(name) ? 'json' : type, required: false });
      this.methods.set(method, {
        method,
        params,
        acceptsJson: (op.consumes ?? []).includes('application/json'),
      });
    }
  }

  get(method: string): MethodSpec | undefined {
    return this.methods.get(method);
  }
}

export interface ArgProblem {
  field: string;
  kind: 'missing' | 'type';
}

/**
 * Required arguments that are absent, and arguments whose value does not parse as the spec's
 * type. Unknown arguments are not problems: Slack ignores arguments a method does not take.
 */
export function checkArgs(spec: MethodSpec, args: Record<string, unknown>): ArgProblem[] {
  const problems: ArgProblem[] = [];
  for (const [name, p] of spec.params) {
    const v = args[name];
    if (v === undefined) {
      if (p.required) problems.push({ field: name, kind: 'missing' });
      continue;
    }
    if (!fits(p.type, v)) problems.push({ field: name, kind: 'type' });
  }
  return problems;
}

export function unknownArgs(spec: MethodSpec, args: Record<string, unknown>): string[] {
  return Object.keys(args).filter((k) => k !== 'token' && !spec.params.has(k));
}

function fits(type: ParamType, v: unknown): boolean {
  if (type === 'string') return typeof v === 'string' || typeof v === 'number';
  if (type === 'json') return typeof v === 'string' || (typeof v === 'object' && v !== null);
  const s = String(v);
  if (type === 'boolean') return typeof v === 'boolean' || /^(true|false|1|0)$/.test(s);
  if (type === 'integer') return /^-?\d+$/.test(s);
  // Slack timestamps ("1712345678.000100") are the spec's `number`s.
  return s === '' || /^-?\d+(\.\d+)?$/.test(s);
}

export function asBool(v: unknown): boolean {
  return v === true || v === 'true' || v === '1' || v === 1;
}
