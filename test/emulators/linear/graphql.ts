/**
 * Runs a GraphQL request against Linear's published schema (specs/linear/schema.graphql) with
 * graphql-js: parse → validate → execute over the resolvers. Requests the schema rejects get
 * HTTP 400 and GraphQL's error shape; resolver errors come back with HTTP 200, `data` as far as
 * it resolved, and Linear's `extensions`.
 */
import { readFileSync } from 'node:fs';
import {
  buildSchema,
  execute,
  extendSchema,
  getNamedType,
  GraphQLError,
  isAbstractType,
  isEnumType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  parse,
  validate,
  type DocumentNode,
  type GraphQLFieldResolver,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { SPECS_DIR } from '../common/openapi.ts';
import { LinearApiError, unsupported } from './errors.ts';
import { rootValue, type Ctx } from './resolvers.ts';

let cachedSchema: GraphQLSchema | null = null;

/** The schema is 1.2 MB of SDL; build it once per process. See sdk98-additions.graphql. */
export function linearSchema(): GraphQLSchema {
  cachedSchema ??= extendSchema(
    buildSchema(readFileSync(new URL('linear/schema.graphql', SPECS_DIR), 'utf8')),
    parse(readFileSync(new URL('./sdk98-additions.graphql', import.meta.url), 'utf8')),
  );
  return cachedSchema;
}

const parsed = new Map<string, DocumentNode | GraphQLError>();

function parseCached(query: string): DocumentNode | GraphQLError {
  let doc = parsed.get(query);
  if (!doc) {
    try {
      doc = parse(query);
    } catch (e) {
      doc = e instanceof GraphQLError ? e : new GraphQLError(String(e));
    }
    if (parsed.size > 500) parsed.clear();
    parsed.set(query, doc);
  }
  return doc;
}

/** The root fields of the request's operation, for the ledger and fault matching: "issueUpdate". */
export function operationName(body: Buffer): string | null {
  try {
    const { query } = JSON.parse(body.toString('utf8')) as { query?: unknown };
    if (typeof query !== 'string') return null;
    const doc = parseCached(query);
    if (doc instanceof GraphQLError) return null;
    const op = doc.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
    if (!op) return null;
    const names = op.selectionSet.selections.flatMap((s) => (s.kind === 'Field' ? [s.name.value] : []));
    return names.join(',') || null;
  } catch {
    return null;
  }
}

export interface GraphQLHttpResult {
  status: number;
  body: unknown;
}

/** Linear tags GraphQL-level failures with type "graphql error" (the SDK's GraphqlLinearError). */
function requestError(e: GraphQLError, code: string): unknown {
  return {
    message: e.message,
    ...(e.locations ? { locations: e.locations } : {}),
    extensions: {
      code,
      statusCode: 400,
      type: 'graphql error',
      userError: true,
      userPresentableMessage: e.message,
    },
  };
}

export async function runGraphQL(rawBody: Buffer, ctx: Ctx): Promise<GraphQLHttpResult> {
  let body: { query?: unknown; variables?: unknown; operationName?: unknown };
  try {
    body = JSON.parse(rawBody.toString('utf8')) as typeof body;
  } catch {
    return badRequest('Body must be valid JSON', 'BAD_REQUEST');
  }
  if (typeof body?.query !== 'string' || body.query.trim() === '')
    return badRequest('Must provide query string.', 'BAD_REQUEST');
  const doc = parseCached(body.query);
  if (doc instanceof GraphQLError)
    return { status: 400, body: { errors: [requestError(doc, 'GRAPHQL_PARSE_FAILED')] } };
  const schema = linearSchema();
  const problems = validate(schema, doc);
  if (problems.length > 0)
    return {
      status: 400,
      body: { errors: problems.map((p) => requestError(p, 'GRAPHQL_VALIDATION_FAILED')) },
    };

  const result = await execute({
    schema,
    document: doc,
    rootValue: rootValue(),
    contextValue: ctx,
    variableValues: (body.variables ?? undefined) as Record<string, unknown> | undefined,
    operationName: typeof body.operationName === 'string' ? body.operationName : undefined,
    fieldResolver,
    typeResolver: (value: unknown) => (value as { __typename?: string }).__typename,
  });
  // No `data` at all: the variables did not coerce to their declared types (wrong type, unknown
  // input field, unknown enum value, missing required field) — rejected before any resolver ran.
  if (!('data' in result) || result.data === undefined)
    return {
      status: 400,
      body: { errors: (result.errors ?? []).map((e) => requestError(e, 'BAD_USER_INPUT')) },
    };
  const out: Record<string, unknown> = { data: result.data };
  if (result.errors?.length) out.errors = result.errors.map(formatError);
  return { status: 200, body: out };
}

function badRequest(message: string, code: string): GraphQLHttpResult {
  return {
    status: 400,
    body: {
      errors: [{ message, extensions: { code, statusCode: 400, type: 'graphql error', userError: true } }],
    },
  };
}

function formatError(e: GraphQLError): unknown {
  const base = { message: e.message, path: e.path, locations: e.locations };
  const orig = e.originalError;
  if (orig instanceof LinearApiError) return { ...base, extensions: orig.extensions };
  if (orig && !(orig instanceof GraphQLError)) {
    // A bug in the emulator, not a Linear behaviour: say so rather than dress it up.
    return {
      ...base,
      message: `Linear emulator internal error: ${orig.message}`,
      extensions: { code: 'INTERNAL_SERVER_ERROR', type: 'internal error', statusCode: 500 },
    };
  }
  return { ...base, extensions: { code: 'INTERNAL_SERVER_ERROR', type: 'graphql error', ...e.extensions } };
}

/**
 * Fields a view models come from the view (a value, or a function of the field's arguments).
 * Everything else gets what an empty entity would have, so the SDK's models construct: an empty
 * list for lists, null where nullable, and for non-null fields a typed default.
 */
const fieldResolver: GraphQLFieldResolver<unknown, Ctx> = (source, args, ctx, info) => {
  if (typeof source === 'object' && source !== null) {
    const v = (source as Record<string, unknown>)[info.fieldName];
    if (typeof v === 'function') return (v as (a: unknown, c: Ctx) => unknown).call(source, args, ctx);
    if (v !== undefined) return v;
  }
  // An empty payload for a mutation would read as `success: false` with an empty entity id: a write
  // that silently did nothing. A mutation the emulator does not model fails loudly instead.
  if (info.parentType === info.schema.getMutationType()) throw unsupported(`the mutation ${info.fieldName}`);
  return defaultFor(info.returnType);
};

function defaultFor(type: GraphQLOutputType): unknown {
  if (!isNonNullType(type)) return null;
  const inner = type.ofType;
  if (isListType(inner)) return [];
  if (isScalarType(inner)) {
    switch (inner.name) {
      case 'Int':
      case 'Float':
        return 0;
      case 'Boolean':
        return false;
      case 'DateTime':
        return new Date(0).toISOString();
      case 'TimelessDate':
        return '1970-01-01';
      case 'JSON':
      case 'JSONObject':
        return {};
      default:
        return '';
    }
  }
  if (isEnumType(inner)) return inner.getValues()[0]?.value ?? null;
  if (isAbstractType(inner)) {
    const named = getNamedType(inner);
    const first = isAbstractType(named) ? linearSchema().getPossibleTypes(named)[0] : undefined;
    return { __typename: first?.name };
  }
  if (isObjectType(inner)) return {};
  return null;
}
