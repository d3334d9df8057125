import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { testStackEndpoints } from '../stack/env.ts';

const stack = testStackEndpoints();

test('kafka answers a metadata request', async () => {
  const admin = new Kafka({
    clientId: 'stack-test',
    brokers: [stack.kafka.bootstrap],
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const cluster = await admin.describeCluster();
    assert.equal(cluster.brokers.length, 1);
    assert.equal(cluster.brokers[0]?.host, '127.0.0.1');
  } finally {
    await admin.disconnect();
  }
});

test('the registry answers on its Confluent-compatible API with BACKWARD compatibility', async () => {
  const subjects = await fetch(`${stack.registry.url}/subjects`);
  assert.equal(subjects.status, 200);
  assert.ok(Array.isArray(await subjects.json()));
  const config = await fetch(`${stack.registry.url}/config`);
  assert.equal(config.status, 200);
  assert.match(await config.text(), /BACKWARD/);
});

test('@kafkajs/confluent-schema-registry can register the same schema twice', async () => {
  const registry = new SchemaRegistry({ host: stack.registry.url });
  const subject = `stack-test-${randomUUID()}-value`;
  const schema = {
    type: SchemaType.AVRO as const,
    schema: JSON.stringify({
      type: 'record',
      name: 'Probe',
      namespace: 'lockstep.test',
      fields: [{ name: 'a', type: 'string' }],
    }),
  };
  const first = await registry.register(schema, { subject });
  const second = await registry.register(schema, { subject });
  assert.equal(second.id, first.id);
  const config = await fetch(`${stack.registry.url}/config/${subject}`);
  assert.match(await config.text(), /BACKWARD/);
});

test('postgres answers select 1 in the lockstep database', async () => {
  const client = new pg.Client({ connectionString: stack.postgres.url });
  await client.connect();
  try {
    const r = await client.query<{ one: number; db: string }>('select 1 as one, current_database() as db');
    assert.deepEqual(r.rows[0], { one: 1, db: 'lockstep' });
  } finally {
    await client.end();
  }
});

test('the jaeger query API answers', async () => {
  const res = await fetch(`${stack.jaeger.url}/api/services`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { data: unknown };
  assert.ok('data' in body);
});
