/** Lockstep's topics: core's table (core/kafka topicSpecs) with a commands topic per registered platform. */
import { COMMAND_PLATFORMS } from '../connectors/registry.ts';
import { topicSpecs, type KafkaConfig, type TopicSpec } from '../core/kafka/index.ts';

export function lockstepTopicSpecs(config: KafkaConfig): TopicSpec[] {
  return topicSpecs(config, COMMAND_PLATFORMS);
}
