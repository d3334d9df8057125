/**
 * The batch consumer on the real broker and registry: what is poison and what is an outage
 * (ISSUE 7 finding 1), and offsets never committed past a record that was not processed
 * (finding 9). The registry outage is made by a TCP relay in front of the real registry that
 * resets every connection while "down" and forwards them while "up".
 */
import { lockstepTopicSpecs } from '../../services/app/topics.ts';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, test } from 'node:test';
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import {
  createBatchConsumer,
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
  ensureTopics,
  groupOffsets,
  type BatchConsumer,
  type ConsumedRecord,
  type KafkaHandle,
  type LockstepProducer,
} from '../../services/core/kafka/index.ts';
import { rand, sampleChangeEvent, testConfig } from './core-helpers.ts';

// Each test has its own topics (a fresh prefix), so a new group reads only that test's records.
let config = testConfig();
let topic = config.kafka.topics.changes;
let registry = createRegistry(config.registry.url);
let serde = createSerde(registry, config.kafka.topics);
let kafka: KafkaHandle;
let producer: LockstepProducer;

beforeEach(async () => {
  config = testConfig();
  topic = config.kafka.topics.changes;
  registry = createRegistry(config.registry.url);
  serde = createSerde(registry, config.kafka.topics);
  kafka = createKafka(config.kafka);
  await ensureTopics(kafka, lockstepTopicSpecs(kafka.config));
  producer = createProducer(kafka, serde);
  await producer.connect();
});
afterEach(async () => {
  await producer?.disconnect();
});

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`waiting for ${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A TCP relay to the registry that resets connections while down. */
async function registryRelay(): Promise<{
  url: string;
  up(): void;
  resets: () => number;
  close(): Promise<void>;
}> {
  const target = new URL(config.registry.url);
  let isUp = false;
  let resets = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (!isUp) {
      resets++;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const url = new URL(config.registry.url);
  url.port = String(port);
  return {
    url: url.toString().replace(/\/$/, ''),
    up: () => void (isUp = true),
    resets: () => resets,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

interface Seen {
  records: ConsumedRecord<ChangeEvent>[];
  poisoned: { offset: string; error: string }[];
  retries: number;
}

function consumer(
  groupId: string,
  s: ReturnType<typeof createSerde>,
  seen: Seen,
  eachBatch?: (records: ConsumedRecord<ChangeEvent>[], done: (o: string) => void) => Promise<void>,
): BatchConsumer {
  return createBatchConsumer<ChangeEvent>(kafka, s, {
    groupId,
    topics: [topic],
    fromBeginning: true,
    decodeBackoff: { baseMs: 50, maxMs: 400 },
    onDecodeRetry: () => void seen.retries++,
    async poison(record, error) {
      seen.poisoned.push({ offset: record.offset, error: String(error) });
    },
    async eachBatch(records, ctx) {
      if (eachBatch) return eachBatch(records, (o) => ctx.done(o));
      for (const r of records) {
        seen.records.push(r);
        ctx.done(r.offset);
      }
    },
  });
}

const committed = async (groupId: string, partition: number) =>
  (await groupOffsets(kafka, groupId, topic)).find((p) => p.partition === partition)?.offset ?? null;

test('a record whose writer schema is not cached waits while the registry is unreachable, and is processed once it is back; nothing is dead-lettered', async () => {
  const key = rand('key');
  const ev = sampleChangeEvent(rand('ev'));
  const { partition, offset } = await producer.produce<'ChangeEvent'>(topic, key, ev);

  const relay = await registryRelay();
  // A fresh serde: nothing cached, as after a restart, a schema change or a replay of older records.
  const cold = createSerde(createRegistry(relay.url), config.kafka.topics);
  const seen: Seen = { records: [], poisoned: [], retries: 0 };
  const groupId = rand('group');
  const c = consumer(groupId, cold, seen);
  try {
    await c.start();
    await waitFor(
      'the consumer to retry the decode three times (or to give up on the record)',
      () => seen.retries >= 3 || seen.poisoned.length > 0,
    );
    assert.deepEqual(seen.poisoned, [], 'an unreachable registry does not make a record poison');
    assert.ok(relay.resets() >= 3, 'the registry outage was real: connections were reset');
    assert.equal(seen.records.length, 0, 'nothing handed over while the schema cannot be fetched');
    assert.equal(await committed(groupId, partition), null, 'nothing committed past the waiting record');

    relay.up();
    await waitFor('the record to be processed after the registry came back', () => seen.records.length > 0);
    assert.deepEqual(
      seen.records.map((r) => [r.offset, r.value.eventId]),
      [[offset, ev.eventId]],
    );
    assert.deepEqual(seen.poisoned, []);
    await waitFor('the offset to be committed', async () => (await committed(groupId, partition)) !== null);
    assert.equal(await committed(groupId, partition), String(BigInt(offset) + 1n));
  } finally {
    await c.stop();
    await relay.close();
  }
});

test('records that can never be decoded are dead-lettered and the partition moves on: bad magic byte, a schema id the registry does not know (404), a body that does not match its schema', async () => {
  const key = rand('key');
  const first = await producer.produce<'ChangeEvent'>(topic, key, sampleChangeEvent(rand('ev')));
  const id = (await registry.latest(`${topic}-value`))!.id;
  const header = (schemaId: number) => {
    const b = Buffer.alloc(5);
    b.writeInt32BE(schemaId, 1);
    return b;
  };
  // Confirm the unknown id really is unknown to this registry.
  const unknownId = 2_000_000_000;
  assert.equal((await fetch(`${config.registry.url}/schemas/ids/${unknownId}`)).status, 404);
  const badMagic = await producer.produceRaw(topic, key, Buffer.from([1, 0, 0, 0, 1, 2, 3]));
  const unknown = await producer.produceRaw(topic, key, Buffer.concat([header(unknownId), Buffer.from([2])]));
  const truncated = await producer.produceRaw(topic, key, Buffer.concat([header(id), Buffer.from([2])]));
  const good = sampleChangeEvent(rand('ev'));
  const last = await producer.produce<'ChangeEvent'>(topic, key, good);

  const seen: Seen = { records: [], poisoned: [], retries: 0 };
  const c = consumer(
    rand('group'),
    createSerde(createRegistry(config.registry.url), config.kafka.topics),
    seen,
  );
  try {
    await c.start();
    await waitFor('the good record after the poison', () =>
      seen.records.some((r) => r.offset === last.offset),
    );
  } finally {
    await c.stop();
  }
  const mine = seen.records.filter((r) => r.key === key).map((r) => r.offset);
  assert.deepEqual(mine, [first.offset, last.offset]);
  assert.deepEqual(
    seen.poisoned.map((p) => p.offset),
    [badMagic.offset, unknown.offset, truncated.offset],
  );
  assert.match(seen.poisoned[0]!.error, /magic byte 1/);
  assert.match(
    seen.poisoned[1]!.error,
    new RegExp(`schema ${unknownId}: the registry has no schema with this id`),
  );
  assert.match(seen.poisoned[2]!.error, new RegExp(`schema ${id}`));
  assert.equal(seen.retries, 0, 'poison is not retried');
});

test('a handler that stops early leaves the rest of its batch uncommitted, even with a dead letter after it', async () => {
  const key = rand('key');
  const g0 = await producer.produce<'ChangeEvent'>(topic, key, sampleChangeEvent(rand('ev')));
  const g1 = await producer.produce<'ChangeEvent'>(topic, key, sampleChangeEvent(rand('ev')));
  const bad = await producer.produceRaw(topic, key, Buffer.from([9, 9, 9, 9, 9, 9]));
  const g3 = await producer.produce<'ChangeEvent'>(topic, key, sampleChangeEvent(rand('ev')));
  const groupId = rand('group');

  // First member: processes g0 only, then stops (a shutdown or a revoked partition mid-batch).
  const first: Seen = { records: [], poisoned: [], retries: 0 };
  let stopped: Promise<void> | undefined;
  const a = consumer(groupId, serde, first, async (records, done) => {
    if (stopped) return;
    const r = records[0]!;
    first.records.push(r);
    done(r.offset);
    stopped = a.stop(); // not awaited: disconnect waits for this batch to return
  });
  await a.start();
  await waitFor('the first member to stop', () => stopped !== undefined);
  await stopped;
  assert.deepEqual(
    first.records.map((r) => r.offset),
    [g0.offset],
  );
  assert.deepEqual(first.poisoned, [], 'nothing after the unprocessed record is dead-lettered');
  assert.equal(
    await committed(groupId, g0.partition),
    g1.offset,
    'committed up to the first unprocessed record',
  );

  // The next member of the group gets everything from g1 on, in order.
  const second: Seen = { records: [], poisoned: [], retries: 0 };
  const b = consumer(groupId, serde, second);
  try {
    await b.start();
    await waitFor('the second member to reach the last record', () =>
      second.records.some((r) => r.offset === g3.offset),
    );
  } finally {
    await b.stop();
  }
  assert.deepEqual(
    second.records.filter((r) => r.key === key).map((r) => r.offset),
    [g1.offset, g3.offset],
  );
  assert.deepEqual(
    second.poisoned.map((p) => p.offset),
    [bad.offset],
  );
});

test('a handler error kafkajs will not retry is reported as a crash without restart (what runtime.onConsumerCrash exits on)', async () => {
  await producer.produce<'ChangeEvent'>(topic, rand('key'), sampleChangeEvent(rand('ev')));
  const crashes: { err: string; restart: boolean }[] = [];
  const c = createBatchConsumer<ChangeEvent>(kafka, serde, {
    groupId: rand('group'),
    topics: [topic],
    fromBeginning: true,
    async poison() {
      throw new Error('no poison expected here');
    },
    async eachBatch() {
      // A programmer error: kafkajs gives up on TypeError at once and does not restart.
      throw new TypeError('a bug in a handler');
    },
  });
  c.onCrash((err, restart) => crashes.push({ err: String(err), restart }));
  try {
    await c.start();
    await waitFor('the consumer to crash', () => crashes.length > 0);
  } finally {
    await c.stop();
  }
  assert.equal(crashes[0]!.restart, false, JSON.stringify(crashes));
  assert.match(crashes[0]!.err, /a bug in a handler/);
});
