export {
  createConsumer,
  createKafka,
  createProducer,
  describeTopics,
  ensureTopics,
  groupOffsets,
  resetGroupOffsets,
  topicOffsets,
  topicSpecs,
  type ConsumedRecord,
  type ConsumeOptions,
  type Headers,
  type KafkaConfig,
  type KafkaHandle,
  type LockstepConsumer,
  type LockstepProducer,
  type OffsetReset,
  type TopicInfo,
  type TopicSpec,
} from './client.ts';
export {
  createRegistry,
  createSerde,
  type AvroRegistry,
  type AvroSerde,
  type Compatibility,
} from './registry.ts';
export {
  avroType,
  COMMAND_PLATFORMS,
  commandsTopic,
  SCHEMA_NAMES,
  SCHEMAS_DIR,
  schemaForTopic,
  schemaText,
  valueSubject,
  type SchemaName,
  type SchemaTypes,
  type TopicsConfig,
} from './schemas.ts';
export {
  backwardProblem,
  checkAgainstReleased,
  RELEASED_DIR,
  releasedVersions,
  type ReleasedVersion,
} from './evolution.ts';
export {
  createBatchConsumer,
  type BatchConsumeOptions,
  type BatchConsumer,
  type BatchContext,
} from './batch-consumer.ts';
