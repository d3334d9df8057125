/**
 * The local stack's registry keeps its schemas across a restart (ISSUE 7 finding 12): records
 * written before the restart still decode after it, for a consumer with a cold cache. A private
 * registry instance (own ports, own database on the test stack's Postgres) is restarted, so the
 * shared registry other test files use is not disturbed.
 */
import { lockstepTopicSpecs } from '../../services/app/topics.ts';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { freePort } from '../support/ports.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { registryComponent, registryDatabase, registryUrl } from '../../deploy/local/registry.ts';
import { testStack } from '../../deploy/local/stack.ts';
import type { StackOptions } from '../../deploy/local/types.ts';
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import {
  createBatchConsumer,
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
  ensureTopics,
  valueSubject,
  type ConsumedRecord,
} from '../../services/core/kafka/index.ts';
import { testStackEndpoints } from '../stack/env.ts';
import { rand, sampleChangeEvent, testConfig } from './core-helpers.ts';

/** Starts the private registry; a failure carries the end of its log (the state dir is removed after). */
async function startRegistry(): Promise<void> {
  try {
    await registryComponent.start(o);
  } catch (err) {
    const log = readFileSync(registryComponent.logFile(o), 'utf8').split('\n').slice(-40).join('\n');
    throw new Error(`${String(err)}\n--- end of the registry log ---\n${log}`);
  }
}

let o: StackOptions;
before(async () => {
  const stack = testStack((line) => process.stderr.write(`[private registry] ${line}\n`));
  const pgPort = Number(new URL(testStackEndpoints().postgres.url).port);
  o = {
    ...stack,
    instance: rand('durability').replace(/-/g, '_'),
    stateDir: mkdtempSync(join(tmpdir(), 'lockstep-registry-')),
    ports: {
      ...stack.ports,
      postgres: pgPort,
      registry: await freePort(),
      registryManagement: await freePort(),
    },
  };
  mkdirSync(join(o.stateDir, 'logs'), { recursive: true });
});
after(async () => {
  await registryComponent.stop(o).catch(() => undefined);
  const admin = new pg.Client({ connectionString: testStackEndpoints().postgres.url });
  await admin.connect();
  await admin.query(`drop database if exists ${registryDatabase(o)} with (force)`);
  await admin.end();
  rmSync(o.stateDir, { recursive: true, force: true });
});

test(
  'records written before a registry restart still decode after it, with a cold-cache consumer',
  { timeout: 900_000 },
  async () => {
    await startRegistry();
    const config = testConfig();
    const topic = config.kafka.topics.changes;
    const url = registryUrl(o);
    const kafka = createKafka(config.kafka);
    await ensureTopics(kafka, lockstepTopicSpecs(kafka.config));
    const producer = createProducer(kafka, createSerde(createRegistry(url), config.kafka.topics));
    await producer.connect();
    const events = [sampleChangeEvent(rand('ev')), sampleChangeEvent(rand('ev'))];
    try {
      for (const ev of events) await producer.produce<'ChangeEvent'>(topic, 'k', ev);
    } finally {
      await producer.disconnect();
    }
    const before = await createRegistry(url).latest(valueSubject(topic));
    assert.ok(before, 'the schema was registered');

    await registryComponent.stop(o);
    assert.equal(await registryComponent.healthy(o), false, 'the registry was down');
    await startRegistry();

    // The id every record carries still names the same schema.
    const after = await createRegistry(url).latest(valueSubject(topic));
    assert.equal(after?.id, before.id);
    assert.equal(after?.schema, before.schema);

    const got: ConsumedRecord<ChangeEvent>[] = [];
    const poisoned: string[] = [];
    const consumer = createBatchConsumer<ChangeEvent>(
      kafka,
      createSerde(createRegistry(url), config.kafka.topics), // cold cache
      {
        groupId: rand('group'),
        topics: [topic],
        fromBeginning: true,
        async poison(record, error) {
          poisoned.push(`${record.offset}: ${String(error)}`);
        },
        async eachBatch(records, ctx) {
          for (const r of records) {
            got.push(r);
            ctx.done(r.offset);
          }
        },
      },
    );
    await consumer.start();
    try {
      const deadline = Date.now() + 60_000;
      while (got.length + poisoned.length < events.length) {
        if (Date.now() > deadline)
          throw new Error(
            `reading the records back: ${got.length} decoded, ${poisoned.length} poison after 60 s`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await consumer.stop();
    }
    assert.deepEqual(poisoned, []);
    assert.deepEqual(
      got.map((r) => r.value.eventId),
      events.map((e) => e.eventId),
    );
  },
);
