import { COMMAND_PLATFORMS } from '../../connectors/registry.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../config/index.ts';
import { topicSpecs } from './client.ts';
import { avroType, commandsTopic, SCHEMA_NAMES, schemaForTopic, valueSubject } from './schemas.ts';

const config = loadConfig(undefined, {});
const topics = config.kafka.topics;

test('the topic table maps each DESIGN.md topic to its schema', () => {
  assert.equal(schemaForTopic(topics, 'lockstep.changes.v1'), 'ChangeEvent');
  assert.equal(schemaForTopic(topics, 'lockstep.commands.jira.v1'), 'WriteCommand');
  assert.equal(schemaForTopic(topics, 'lockstep.outcomes.v1'), 'WriteOutcome');
  assert.equal(schemaForTopic(topics, 'lockstep.conflicts.v1'), 'Conflict');
  assert.equal(schemaForTopic(topics, 'lockstep.dlq.v1'), 'DeadLetter');
  assert.equal(schemaForTopic(topics, 'lockstep.audit.v1'), 'AuditRecord');
  assert.equal(schemaForTopic(topics, 'someone.elses.topic'), undefined);
  assert.equal(commandsTopic(topics, 'asana'), 'lockstep.commands.asana.v1');
  assert.equal(valueSubject('lockstep.changes.v1'), 'lockstep.changes.v1-value');
});

test('topicSpecs: all topics, dlq kept longer than changes, nothing compacted', () => {
  const specs = topicSpecs(config.kafka, COMMAND_PLATFORMS);
  assert.deepEqual(
    specs.map((s) => s.name),
    [
      'lockstep.changes.v1',
      'lockstep.commands.linear.v1',
      'lockstep.commands.jira.v1',
      'lockstep.commands.asana.v1',
      'lockstep.commands.slack.v1',
      'lockstep.outcomes.v1',
      'lockstep.conflicts.v1',
      'lockstep.dlq.v1',
      'lockstep.audit.v1',
    ],
  );
  const ret = (n: string) => Number(specs.find((s) => s.name === n)?.configs['retention.ms']);
  assert.equal(ret('lockstep.changes.v1'), 7 * 86_400_000);
  assert.ok(ret('lockstep.dlq.v1') > ret('lockstep.changes.v1'));
  assert.ok(specs.every((s) => s.configs['cleanup.policy'] === 'delete' && s.partitions === 6));
});

test('every contract parses as Avro', () => {
  for (const name of SCHEMA_NAMES) assert.equal(avroType(name).typeName, 'record', name);
});
