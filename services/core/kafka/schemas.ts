/**
 * The Avro contracts (schemas/*.avsc) and which topic carries which. One table, here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import type { CoreConfig } from '../config/index.ts';
import type {
  AuditRecord,
  ChangeEvent,
  Conflict,
  DeadLetter,
  WriteCommand,
  WriteOutcome,
} from '../../../schemas/generated/types.ts';

export interface SchemaTypes {
  ChangeEvent: ChangeEvent;
  WriteCommand: WriteCommand;
  WriteOutcome: WriteOutcome;
  Conflict: Conflict;
  DeadLetter: DeadLetter;
  AuditRecord: AuditRecord;
}
export type SchemaName = keyof SchemaTypes;
export const SCHEMA_NAMES: readonly SchemaName[] = [
  'ChangeEvent',
  'WriteCommand',
  'WriteOutcome',
  'Conflict',
  'DeadLetter',
  'AuditRecord',
];

export const SCHEMAS_DIR = join(import.meta.dirname, '..', '..', '..', 'schemas');

const cache = new Map<string, string>();
/** The schema text exactly as in schemas/<name>.avsc (what gets registered). */
export function schemaText(name: SchemaName, dir = SCHEMAS_DIR): string {
  const file = join(dir, `${name}.avsc`);
  let text = cache.get(file);
  if (text === undefined) {
    text = JSON.stringify(JSON.parse(readFileSync(file, 'utf8')));
    cache.set(file, text);
  }
  return text;
}

export function avroType(name: SchemaName, dir = SCHEMAS_DIR): avro.Type {
  return avro.Type.forSchema(JSON.parse(schemaText(name, dir)) as avro.Schema);
}

export type TopicsConfig = CoreConfig['kafka']['topics'];

/** `lockstep.commands.<platform>.v1` */
export function commandsTopic(topics: TopicsConfig, platform: string): string {
  return `${topics.commandsPrefix}${platform}.v1`;
}

/** Confluent TopicNameStrategy: values of topic T are registered under `T-value`. */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

/** Topic → schema, or undefined for a topic Lockstep does not own. */
export function schemaForTopic(topics: TopicsConfig, topic: string): SchemaName | undefined {
  if (topic === topics.changes) return 'ChangeEvent';
  if (topic === topics.outcomes) return 'WriteOutcome';
  if (topic === topics.conflicts) return 'Conflict';
  if (topic === topics.dlq) return 'DeadLetter';
  if (topic === topics.audit) return 'AuditRecord';
  if (topic.startsWith(topics.commandsPrefix) && topic.endsWith('.v1')) return 'WriteCommand';
  return undefined;
}
