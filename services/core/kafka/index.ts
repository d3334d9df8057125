export {
  createConsumer,
  createKafka,
  createProducer,
  describeTopics,
  ensureTopics,
  groupOffsets,
  offsetsForTime,
  readTopicUntil,
  replicationWarnings,
  resetGroupOffsets,
  topicOffsets,
  topicSpecs,
  type ConsumedRecord,
  type ConsumeOptions,
  type EnsureTopicsOptions,
  type Headers,
  type KafkaConfig,
  type KafkaHandle,
  type LockstepConsumer,
  type LockstepProducer,
  type OffsetReset,
  type RawRecord,
  type ReplicationInfo,
  type TopicInfo,
  type TopicSpec,
} from './client.ts';
export {
  createRegistry,
  createSerde,
  isUndecodable,
  type AvroRegistry,
  type AvroSerde,
  type Compatibility,
} from './registry.ts';
export {
  avroType,
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
  type DecodeRetry,
} from './batch-consumer.ts';
export { registerConsumerLag, type ConsumerLagMetric } from './lag.ts';
export {
  pickSourceTime,
  SOURCE_PLATFORM_HEADER,
  SOURCE_TS_HEADER,
  sourceTimeHeader,
  sourceTimeOf,
} from './source-time.ts';
