/**
 * Schema evolution guard. A released schema version is frozen in schemas/released/<Name>.v<N>.avsc;
 * the current schemas/<Name>.avsc must be able to read everything written with any released
 * version (BACKWARD_TRANSITIVE, stricter than the registry's BACKWARD against latest only).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { SCHEMA_NAMES, SCHEMAS_DIR, schemaText, type SchemaName } from './schemas.ts';

export const RELEASED_DIR = join(SCHEMAS_DIR, 'released');

/** Undefined when `reader` can read data written with `writer`, else avsc's reason. */
export function backwardProblem(reader: string, writer: string): string | undefined {
  try {
    const r = avro.Type.forSchema(JSON.parse(reader) as avro.Schema);
    const w = avro.Type.forSchema(JSON.parse(writer) as avro.Schema);
    r.createResolver(w);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export interface ReleasedVersion {
  name: SchemaName;
  version: number;
  file: string;
  schema: string;
}

export function releasedVersions(dir = RELEASED_DIR): ReleasedVersion[] {
  const out: ReleasedVersion[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = /^([A-Za-z]+)\.v(\d+)\.avsc$/.exec(file);
    const name = SCHEMA_NAMES.find((n) => n === m?.[1]);
    if (!m || !name) continue;
    out.push({
      name,
      version: Number(m[2]),
      file: join(dir, file),
      schema: readFileSync(join(dir, file), 'utf8'),
    });
  }
  return out;
}

/** Every (current schema, released version) pair the current one cannot read, with the reason. */
export function checkAgainstReleased(
  opts: { schemasDir?: string; releasedDir?: string } = {},
): { name: SchemaName; version: number; problem: string }[] {
  const problems: { name: SchemaName; version: number; problem: string }[] = [];
  for (const rel of releasedVersions(opts.releasedDir)) {
    const problem = backwardProblem(schemaText(rel.name, opts.schemasDir), rel.schema);
    if (problem) problems.push({ name: rel.name, version: rel.version, problem });
  }
  return problems;
}
