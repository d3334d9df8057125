/**
 * Issue 7, finding 3, on the real test stack: the reconciler's outbox relay with a row that can
 * never be sent among good ones — a payload that does not fit its schema, a record larger than its
 * topic's max.message.bytes. The good rows are delivered once each and in order, the bad ones are
 * on the dead-letter topic and marked, and the relay is not stuck. Two relays at once (two
 * reconciler replicas) never both send: one holds the advisory lock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { createPool, migrate, type Pool } from '../../services/core/db/index.ts';
import { createLogger } from '../../services/core/logging/index.ts';
import {
  createConsumer,
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
  ensureTopics,
  topicSpecs,
  type LockstepProducer,
} from '../../services/core/kafka/index.ts';
import { entityState } from '../../services/connectors/types.ts';
import { createOutboxSender } from '../../services/reconciler/service.ts';
import {
  createReconcilerStore,
  type OutboxRow,
  type ReconcilerStore,
} from '../../services/reconciler/store.ts';
import type { DeadLetter, WriteCommand } from '../../schemas/generated/types.ts';
import { freshDatabase, testConfig } from './core-helpers.ts';

const config = testConfig();
const jiraTopic = `${config.kafka.topics.commandsPrefix}jira.v1`;
// A commands topic whose max.message.bytes is small, so a large command can never be produced.
const smallTopic = `${config.kafka.topics.commandsPrefix}linear.v1`;

function command(n: number, title: string, platform = 'jira'): WriteCommand {
  return {
    commandId: `cmd-${n}`,
    linkId: 'link-1',
    flowId: 'eng',
    platform,
    workspace: 'ENG',
    action: 'update',
    entityType: 'issue',
    targetId: 'T-1',
    parentId: null,
    fields: entityState({ title }),
    base: null,
    marker: null,
    causedBy: null,
    unresolved: [],
    cause: null,
    createdAtMs: 1_700_000_000_000 + n,
  };
}

const row = (topic: string, payload: WriteCommand): OutboxRow => ({
  topic,
  key: payload.linkId,
  schema: 'WriteCommand',
  payload,
});

/** Reads a topic from the beginning until `done` says enough, or fails naming what is missing. */
async function readTopic<T>(topic: string, done: (got: T[]) => boolean, what: string): Promise<T[]> {
  const kafka = createKafka(config.kafka);
  const serde = createSerde(createRegistry(config.registry.url), config.kafka.topics);
  const got: T[] = [];
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const consumer = createConsumer<T>(kafka, serde, {
    groupId: `${config.kafka.clientId}-reader-${Math.random().toString(36).slice(2)}`,
    topics: [topic],
    fromBeginning: true,
    async eachMessage(rec) {
      if (rec.value) got.push(JSON.parse(JSON.stringify(rec.value)) as T);
      if (done(got)) finish();
    },
  });
  await consumer.start();
  try {
    await Promise.race([
      finished,
      new Promise((_, rej) =>
        setTimeout(
          () => rej(new Error(`reading ${topic}: ${what} not there within 60 s (got ${got.length})`)),
          60_000,
        ),
      ),
    ]);
    // Anything more than expected (a second delivery) would arrive right behind: look a while.
    await new Promise((r) => setTimeout(r, 2000));
    return got;
  } finally {
    await consumer.stop();
  }
}

let db: { url: string; drop(): Promise<void> };
let pool: Pool;
let store: ReconcilerStore;
let producer: LockstepProducer;

before(async () => {
  db = await freshDatabase();
  await migrate(db.url);
  pool = createPool(db.url);
  store = createReconcilerStore(pool);
  const kafka = createKafka(config.kafka);
  await ensureTopics(
    kafka,
    topicSpecs(config.kafka, ['jira']).filter(
      (s) => s.name === jiraTopic || s.name === config.kafka.topics.dlq,
    ),
  );
  const admin = kafka.kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      // kafkajs' own wait for leaders fails on UNKNOWN_TOPIC_OR_PARTITION instead of retrying.
      waitForLeaders: false,
      topics: [
        {
          topic: smallTopic,
          numPartitions: 1,
          configEntries: [{ name: 'max.message.bytes', value: '2048' }],
        },
      ],
    });
    // A new topic's leader is elected a moment after the create returns: wait for it.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const md = await admin.fetchTopicMetadata({ topics: [smallTopic] }).catch(() => null);
      if (md?.topics[0]?.partitions.every((p) => p.leader >= 0)) break;
      if (Date.now() > deadline) throw new Error(`creating ${smallTopic}: no leader within 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.disconnect();
  }
  producer = createProducer(kafka, createSerde(createRegistry(config.registry.url), config.kafka.topics));
  await producer.connect();
});
after(async () => {
  await producer?.disconnect();
  await pool?.end();
  await db?.drop();
});

describe('outbox relay (real Postgres, Kafka, registry)', { timeout: 240_000 }, () => {
  it('an unsendable row among good ones: good rows delivered once each in order, the bad ones dead-lettered, the relay moves on', async () => {
    // What a buggy decision could leave in the jsonb column: commandId is not a string.
    const notAValidCommand = JSON.parse(
      JSON.stringify({ ...command(2, 'no command id'), commandId: 42 }),
    ) as WriteCommand;
    await store.transaction(async (tx) => {
      await tx.enqueue([
        row(jiraTopic, command(1, 'good one')),
        row(jiraTopic, notAValidCommand),
        row(jiraTopic, command(3, 'good two')),
        row(smallTopic, command(4, 'x'.repeat(10_000), 'linear')),
        row(jiraTopic, command(5, 'good three')),
      ]);
    });
    const metrics = new Registry();
    const dead: Parameters<Parameters<typeof createOutboxSender>[0]['deadLetter']>[0][] = [];
    const send = createOutboxSender({
      serde: createSerde(createRegistry(config.registry.url), config.kafka.topics),
      producer,
      // The runtime's deadLetter, minus the runtime: the same DeadLetter record onto the same topic.
      async deadLetter(d) {
        dead.push(d);
        const value: DeadLetter = {
          id: `dl-${dead.length}`,
          stage: d.stage,
          topic: d.topic,
          partition: d.partition ?? null,
          offset: d.offset ?? null,
          key: d.key ?? null,
          value: d.value ?? null,
          headers: d.headers ?? {},
          error: d.error,
          attempts: 1,
          firstFailedAtMs: 0,
          tsMs: 0,
        };
        await producer.produce(config.kafka.topics.dlq, value.id, value);
      },
      published: new Counter({ name: 'published', help: 'x', labelNames: ['schema'], registers: [metrics] }),
      logger: createLogger({ level: 'silent', name: 'test' }),
    });
    // A relay that cannot move past a bad row throws on every pass; this one finishes in one.
    assert.equal(await store.relay(send), 5, 'every row handled in one pass');
    assert.equal(await store.relay(send), 0, 'nothing left: the relay is not stuck');

    const delivered = await readTopic<WriteCommand>(jiraTopic, (g) => g.length >= 3, 'three good commands');
    assert.deepEqual(
      delivered.map((c) => c.commandId),
      ['cmd-1', 'cmd-3', 'cmd-5'],
      'each good row exactly once, in order',
    );
    // Dead letters are keyed by their own id, so they spread over partitions: put them in row order.
    const dlq = (
      await readTopic<DeadLetter>(config.kafka.topics.dlq, (g) => g.length >= 2, 'two dead letters')
    ).sort((a, b) => Number(a.headers['lockstep-outbox-id']) - Number(b.headers['lockstep-outbox-id']));
    assert.equal(dlq.length, 2);
    assert.deepEqual(
      dlq.map((d) => [d.stage, d.topic, d.error.category]),
      [
        ['reconciler', jiraTopic, 'validation'],
        ['reconciler', smallTopic, 'validation'],
      ],
    );
    assert.match(dlq[0]!.error.message, /does not match the WriteCommand schema at commandId/);
    assert.match(dlq[1]!.error.message, /MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/);
    const rows = await pool.query<{ id: string; sent: boolean; dead_letter: string | null }>(
      'select id::text, sent_at is not null as sent, dead_letter from reconciler_outbox order by id',
    );
    assert.deepEqual(
      rows.rows.map((r) => [r.sent, r.dead_letter !== null]),
      [
        [true, false],
        [true, true],
        [true, false],
        [true, true],
        [true, false],
      ],
    );
    assert.deepEqual(
      dlq.map((d) => d.headers['lockstep-outbox-id']),
      [rows.rows[1]!.id, rows.rows[3]!.id],
      'each dead letter names its outbox row',
    );
  });

  it('two relays at once (two replicas) do not both send: one at a time, in id order, each row once', async () => {
    const first = Number(
      (await pool.query<{ n: string }>('select coalesce(max(id), 0) as n from reconciler_outbox')).rows[0]!.n,
    );
    await store.transaction((tx) =>
      tx.enqueue(Array.from({ length: 8 }, (_, i) => row(jiraTopic, command(100 + i, `ordered ${i}`)))),
    );
    const other = createPool(db.url);
    const stores = [store, createReconcilerStore(other)];
    const sent: string[] = [];
    let active = 0;
    let maxActive = 0;
    const send = async (r: { id: string }) => {
      active++;
      maxActive = Math.max(maxActive, active);
      // Each send takes a while (a Kafka round trip), so two unguarded relays would overlap.
      await new Promise((res) => setTimeout(res, 25));
      sent.push(r.id);
      active--;
      return 'sent' as const;
    };
    try {
      let skipped = 0;
      const loop = async (s: ReconcilerStore) => {
        for (let i = 0; i < 200; i++) {
          const n = await s.relay(send, 2);
          if (n === null) skipped++;
          if (n === 0) return;
          if (n === null) await new Promise((res) => setTimeout(res, 5));
        }
        throw new Error('relay loop did not drain the outbox in 200 passes');
      };
      await Promise.all(stores.map(loop));
      assert.equal(maxActive, 1, 'never two sends at once');
      assert.ok(skipped > 0, 'the second relay found the lock taken at least once');
      const ids = sent.map(Number);
      assert.deepEqual(
        ids,
        Array.from({ length: 8 }, (_, i) => first + 1 + i),
        'each row once, in id order',
      );
    } finally {
      await other.end();
    }
  });
});
