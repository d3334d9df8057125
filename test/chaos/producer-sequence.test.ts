/**
 * An acknowledged record is on its topic, even when the connection dropped after the broker wrote
 * a record and before its answer arrived, and another send went out while that one was retried.
 *
 * Found by the chaos scenario "latency and resets on Kafka and Postgres" (a person's Jira edit that
 * ingest had answered 200 for never reached the reconciler). kafkajs gives a produce request the
 * partition's next sequence number and takes the number back when the request fails. The record
 * the broker had written is then retried with a later number if another send went out first, and
 * that other send carries the number the broker already holds: the broker answers it as a duplicate
 * of the first, acknowledged and never written. Lockstep's producer keeps one send (with its
 * retries) in flight at a time, so the retry always goes before the next record.
 *
 * The fault is made exactly, not by chance: a private broker behind a proxy that reads the Kafka
 * framing and closes both connections when the answer to the first Produce request comes back
 * (the broker has written the record by then: acks=all on one replica).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import {
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
  waitForLeaders,
} from '../../services/core/kafka/index.ts';
import { testConfig } from '../integration/core-helpers.ts';
import { startPrivateStack, type PrivateStack } from './stack.ts';

const PRODUCE = 0;

/** Polls `cond` every 50 ms; `timeoutMs` is a generous bound, and the error says what did not happen. */
async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Splits a byte stream into Kafka frames (a 4-byte big-endian size, then that many bytes). */
function framer(onFrame: (frame: Buffer) => void) {
  let pending = Buffer.alloc(0);
  return (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const size = pending.readInt32BE(0);
      if (pending.length < 4 + size) return;
      onFrame(pending.subarray(0, 4 + size));
      pending = pending.subarray(4 + size);
    }
  };
}

interface Dropper {
  port: number;
  /** The next Produce request's answer is not delivered: both connections are closed instead. */
  arm(): void;
  /** How many answers were dropped so far. */
  dropped(): number;
  close(): Promise<void>;
}

/** A loopback proxy to `target` that can drop the answer to a Produce request (see `arm`). */
async function responseDropper(target: number): Promise<Dropper> {
  let armed = false;
  let dropped = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const broker = connect(target, '127.0.0.1');
    sockets.add(client).add(broker);
    const doomed = new Set<number>(); // correlation ids whose answer is dropped
    const kill = () => {
      client.destroy();
      broker.destroy();
    };
    client.on('error', kill).on('close', kill);
    broker.on('error', kill).on('close', kill);
    // request: size, api_key int16, api_version int16, correlation_id int32, …
    client.on(
      'data',
      framer((f) => {
        if (armed && f.readInt16BE(4) === PRODUCE) {
          armed = false;
          doomed.add(f.readInt32BE(8));
        }
        broker.write(f);
      }),
    );
    // response: size, correlation_id int32, …
    broker.on(
      'data',
      framer((f) => {
        if (doomed.has(f.readInt32BE(4))) {
          dropped++;
          kill();
          return;
        }
        client.write(f);
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    arm: () => void (armed = true),
    dropped: () => dropped,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let dir: string;
let stack: PrivateStack;
let proxy: Dropper;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lockstep-chaos-seq-'));
  stack = await startPrivateStack(dir, ['kafka'], async (external) => {
    proxy = await responseDropper(external);
    return proxy.port;
  });
});

after(async () => {
  await proxy?.close();
  await stack?.down();
  rmSync(dir, { recursive: true, force: true });
});

test('a record acknowledged while an earlier record was being retried after a lost answer is on the topic, once, and so is the earlier one', async () => {
  const config = testConfig();
  const topic = `${config.kafka.clientId}.seq`;
  const direct = new Kafka({ brokers: [stack.kafkaDirect], logLevel: logLevel.NOTHING });
  const admin = direct.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  await admin.disconnect();
  await waitForLeaders(createKafka({ ...config.kafka, brokers: [stack.kafkaDirect] }), [topic]);

  const handle = createKafka({ ...config.kafka, brokers: [`127.0.0.1:${proxy.port}`] });
  // produceRaw never touches the serde; the test stack's registry is only there to build one.
  const producer = createProducer(
    handle,
    createSerde(createRegistry(config.registry.url), config.kafka.topics),
  );
  await producer.connect();
  try {
    await producer.produceRaw(topic, 'warm-up', Buffer.from('warm-up')); // sequence 0, answered
    proxy.arm();
    const first = producer.produceRaw(topic, 'first', Buffer.from('first'));
    await waitFor('the proxy to drop the answer to the first record', () => proxy.dropped() === 1, 60_000);
    const second = producer.produceRaw(topic, 'second', Buffer.from('second'));
    const [a, b] = await Promise.all([first, second]);
    assert.notEqual(a.offset, b.offset, 'two records, two offsets');
  } finally {
    await producer.disconnect();
  }

  // Everything the partition holds, read from the broker directly (not through the proxy).
  const reader = direct.admin();
  await reader.connect();
  const [end] = await reader.fetchTopicOffsets(topic);
  await reader.disconnect();
  const values: string[] = [];
  const consumer = direct.consumer({ groupId: `${config.kafka.clientId}-read` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void values.push(String(message.value)) });
  try {
    await waitFor(
      `the ${end?.high} records of the partition to be read back`,
      () => values.length >= Number(end?.high),
      60_000,
    );
  } finally {
    await consumer.disconnect();
  }
  assert.deepEqual(
    values,
    ['warm-up', 'first', 'second'],
    'each acknowledged record once, in the order sent',
  );
});
