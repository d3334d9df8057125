import { lockstepTopicSpecs } from '../../services/app/topics.ts';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import avro from 'avsc';
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import {
  createConsumer,
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
  ensureTopics,
  replicationWarnings,
  schemaText,
  topicOffsets,
  valueSubject,
  type ConsumedRecord,
  type KafkaHandle,
  type LockstepProducer,
} from '../../services/core/kafka/index.ts';
import { rand, sampleChangeEvent, testConfig } from './core-helpers.ts';

const config = testConfig();
const topic = config.kafka.topics.changes;
let kafka: KafkaHandle;
let producer: LockstepProducer;
const registry = createRegistry(config.registry.url);
const serde = createSerde(registry, config.kafka.topics);

before(async () => {
  kafka = createKafka(config.kafka);
  producer = createProducer(kafka, serde);
  await producer.connect();
});
after(async () => {
  await producer?.disconnect();
});

test('ensureTopics creates every DESIGN.md topic with its partitions, and a second call creates nothing', async () => {
  const r = await ensureTopics(kafka, lockstepTopicSpecs(kafka.config));
  assert.deepEqual(
    r.created.sort(),
    lockstepTopicSpecs(config.kafka)
      .map((s) => s.name)
      .sort(),
  );
  // Every partition of every topic is served as soon as ensureTopics returns (no retry here).
  for (const s of lockstepTopicSpecs(config.kafka))
    assert.equal((await topicOffsets(kafka, s.name)).length, 3);
  const again = await ensureTopics(kafka, lockstepTopicSpecs(kafka.config));
  assert.deepEqual(again.created, []);
  assert.equal(again.existing.length, lockstepTopicSpecs(config.kafka).length);
});

test('ensureTopics returns only once every new partition has a leader that serves it (five sets back to back)', async () => {
  // Right after CreateTopics the broker can answer NOT_LEADER_FOR_PARTITION / UNKNOWN_TOPIC_OR_PARTITION
  // to a ListOffsets (a fresh clone's CI run failed on it); `prepare` must not return before that.
  for (let round = 0; round < 5; round++) {
    const c = testConfig();
    const k = createKafka(c.kafka);
    const r = await ensureTopics(k, lockstepTopicSpecs(k.config));
    assert.equal(r.created.length, lockstepTopicSpecs(c.kafka).length);
    for (const s of lockstepTopicSpecs(c.kafka)) {
      const offsets = await topicOffsets(k, s.name);
      assert.deepEqual(
        offsets.map((o) => [o.partition, o.low, o.high]).sort(),
        [0, 1, 2].map((p) => [p, '0', '0']),
        s.name,
      );
    }
  }
});

test('replication warnings: none on the single-broker stack; the same real topics on a multi-broker cluster with RF 1 are named', async () => {
  // The test stack has one broker, so a multi-broker cluster cannot be run here: the warning logic
  // is checked as a pure function on this cluster's real metadata, with the broker count varied.
  const r = await ensureTopics(kafka, lockstepTopicSpecs(kafka.config));
  assert.deepEqual(r.warnings, [], 'one broker, RF 1: nothing to warn about');
  const admin = kafka.kafka.admin();
  await admin.connect();
  const { brokers } = await admin.describeCluster();
  const names = lockstepTopicSpecs(config.kafka).map((s) => s.name);
  const meta = await admin.fetchTopicMetadata({ topics: names });
  await admin.disconnect();
  assert.equal(brokers.length, 1);
  const topics = meta.topics.map((t) => ({ name: t.name, replicas: t.partitions[0]!.replicas.length }));
  assert.ok(topics.every((t) => t.replicas === 1));
  assert.deepEqual(replicationWarnings({ brokers: brokers.length, topics }), []);
  const warnings = replicationWarnings({ brokers: 3, topics });
  assert.equal(warnings.length, names.length);
  assert.match(
    warnings[0]!,
    /replication factor 1 on a cluster of 3 brokers.*replicationFactor 3 with min\.insync\.replicas=2/,
  );
  assert.deepEqual(
    replicationWarnings({ brokers: 3, topics: topics.map((t) => ({ ...t, replicas: 3 })) }),
    [],
  );
});

test('a ChangeEvent goes through the broker and registry in Confluent wire format', async () => {
  const event = sampleChangeEvent(rand('ev'));
  const key = 'linear:ENG:issue:lin-123';
  await producer.produce<'ChangeEvent'>(topic, key, event, { 'x-lockstep-hop': '0' });

  const got: ConsumedRecord<ChangeEvent | null>[] = [];
  let done!: () => void;
  const received = new Promise<void>((r) => (done = r));
  const consumer = createConsumer<ChangeEvent>(kafka, serde, {
    groupId: rand('group'),
    topics: [topic],
    fromBeginning: true,
    async eachMessage(rec) {
      got.push(rec);
      done();
    },
  });
  await consumer.start();
  await Promise.race([
    received,
    new Promise((_, reject) => setTimeout(() => reject(new Error('no record within 30 s')), 30_000)),
  ]);
  await consumer.stop();

  const rec = got[0]!;
  assert.equal(rec.key, key);
  assert.equal(rec.headers['x-lockstep-hop'], '0');
  assert.deepEqual(JSON.parse(JSON.stringify(rec.value)), event);

  // Wire format: magic byte 0, then a big-endian 4-byte schema id the registry resolves.
  const raw = rec.raw!;
  assert.equal(raw[0], 0);
  const id = raw.readInt32BE(1);
  const res = await fetch(`${config.registry.url}/schemas/ids/${id}`);
  assert.equal(res.status, 200);
  const registered = avro.Type.forSchema(
    JSON.parse(((await res.json()) as { schema: string }).schema) as avro.Schema,
  );
  assert.ok(registered.equals(avro.Type.forSchema(JSON.parse(schemaText('ChangeEvent')) as avro.Schema)));
  // …and the body after the 5-byte header is plain Avro binary of that schema.
  assert.deepEqual(JSON.parse(JSON.stringify(registered.fromBuffer(raw.subarray(5)))), event);

  // Registered under <topic>-value with BACKWARD.
  const latest = await registry.latest(valueSubject(topic));
  assert.equal(latest?.id, id);
  const cfg = (await (await fetch(`${config.registry.url}/config/${valueSubject(topic)}`)).json()) as {
    compatibilityLevel: string;
  };
  assert.equal(cfg.compatibilityLevel, 'BACKWARD');
});

test('a value that does not match the schema is refused before it reaches Kafka', async () => {
  const before = await topicOffsets(kafka, topic);
  const bad = { ...sampleChangeEvent(rand('ev')), op: 'x' } as unknown;
  await assert.rejects(producer.produce<'ChangeEvent'>(topic, 'k', bad as ChangeEvent));
  assert.deepEqual(await topicOffsets(kafka, topic), before);
});
