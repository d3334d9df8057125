/**
 * The reconciler's store on the real test Postgres (and the outbox relay into the real Kafka):
 * one transaction per input records link state, seen ids and outbox rows together — or nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { migrate } from '../../services/core/db/index.ts';
import { createPool, type Pool } from '../../services/core/db/index.ts';
import {
  createConsumer,
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
  ensureTopics,
  topicSpecs,
} from '../../services/core/kafka/index.ts';
import { entityState } from '../../services/connectors/types.ts';
import { flowSchema } from '../../services/reconciler/flow.ts';
import { deterministicId } from '../../services/reconciler/ids.ts';
import {
  processChange,
  processOutcome,
  processResolve,
  type ProcessDeps,
} from '../../services/reconciler/process.ts';
import { createReconcilerStore, type ReconcilerStore } from '../../services/reconciler/store.ts';
import type { ChangeEvent, WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import { freshDatabase, testConfig } from './core-helpers.ts';

const flow = flowSchema.parse({
  id: 'eng',
  sides: [
    { platform: 'linear', workspace: 'ENG' },
    { platform: 'jira', workspace: 'ENG' },
  ],
  fields: { default: 'last-write-wins', title: 'manual' },
});

function event(
  platform: string,
  entityId: string,
  tsMs: number,
  title: string,
  op: ChangeEvent['op'],
  lockstep = false,
): ChangeEvent {
  return {
    eventId: `${platform}:${entityId}:${tsMs}:${op}`,
    op,
    before: null,
    after: entityState({ title }),
    source: {
      platform,
      workspace: 'ENG',
      entityType: 'issue',
      entityId,
      entityKey: null,
      parentId: null,
      via: 'webhook',
      deliveryId: null,
      actor: null,
      actorIsLockstep: lockstep,
      marker: null,
      version: null,
      tsMs,
    },
    changedFields: ['title'],
    tsMs: tsMs + 1,
  };
}

function outcomeOf(cmd: WriteCommand, targetId: string, platformTsMs: number): WriteOutcome {
  return {
    commandId: cmd.commandId,
    linkId: cmd.linkId,
    flowId: cmd.flowId,
    platform: cmd.platform,
    workspace: cmd.workspace,
    entityType: cmd.entityType,
    action: cmd.action,
    status: 'applied',
    targetId,
    targetKey: targetId,
    written: cmd.fields,
    platformVersion: null,
    platformTsMs,
    error: null,
    coalesced: [],
    tsMs: platformTsMs,
  };
}

let db: { url: string; drop(): Promise<void> };
let pool: Pool;
let store: ReconcilerStore;
const config = testConfig();
const deps: ProcessDeps = {
  flows: [flow],
  topics: config.kafka.topics,
  ids: deterministicId,
  now: () => 1_700_000_000_000,
};

async function outbox(): Promise<Array<{ topic: string; key: string; schema: string; sent: boolean }>> {
  const r = await pool.query<{ topic: string; key: string; schema: string; sent: boolean }>(
    'select topic, key, schema, sent_at is not null as sent from reconciler_outbox order by id',
  );
  return r.rows;
}

before(async () => {
  db = await freshDatabase();
  const applied = await migrate(db.url);
  assert.ok(applied.includes('0020_reconciler'), `applied: ${applied.join(', ')}`);
  pool = createPool(db.url);
  store = createReconcilerStore(pool);
});
after(async () => {
  await pool?.end();
  await db?.drop();
});

describe('reconciler store (real Postgres)', () => {
  const create = event('linear', 'L-1', 1000, 'Login fails', 'c');

  it('records the link, the seen event and the create command in one transaction', async () => {
    const out = await store.transaction((tx) => processChange(tx, deps, create));
    assert.equal(out.commands.length, 1);
    const cmd = out.commands[0]!;
    assert.equal(cmd.action, 'create');
    assert.deepEqual(await outbox(), [
      {
        topic: `${config.kafka.topics.commandsPrefix}jira.v1`,
        key: cmd.linkId,
        schema: 'WriteCommand',
        sent: false,
      },
    ]);
    const links = await pool.query('select link_id, status from reconciler_links');
    assert.deepEqual(links.rows, [{ link_id: cmd.linkId, status: 'pending' }]);
    const seen = await pool.query('select event_id from reconciler_seen_events');
    assert.deepEqual(seen.rows, [{ event_id: create.eventId }]);
  });

  it('a redelivered event is a duplicate: no new rows', async () => {
    const out = await store.transaction((tx) => processChange(tx, deps, create));
    assert.deepEqual(out.commands, []);
    assert.equal(out.notes[0]?.code, 'duplicate');
    assert.equal((await outbox()).length, 1);
  });

  it('a transaction that fails part-way records nothing at all', async () => {
    const ev = event('linear', 'L-2', 1000, 'Another', 'c');
    await assert.rejects(
      store.transaction(async (tx) => {
        await processChange(tx, deps, ev);
        throw new Error('crash after deciding');
      }),
      /crash after deciding/,
    );
    const links = await pool.query('select 1 from reconciler_link_entities where entity_id = $1', ['L-2']);
    assert.equal(links.rowCount, 0);
    const seen = await pool.query('select 1 from reconciler_seen_events where event_id = $1', [ev.eventId]);
    assert.equal(seen.rowCount, 0);
    assert.equal((await outbox()).length, 1);
  });

  it('our create coming back before its outcome is set aside, then absorbed when the outcome links it', async () => {
    const echo = event('jira', 'J-1', 2000, 'Login fails', 'c', true);
    const early = await store.transaction((tx) => processChange(tx, deps, echo));
    assert.deepEqual(early.commands, []);
    assert.equal(early.notes[0]?.code, 'aside');
    const aside = await pool.query('select aside_key from reconciler_aside');
    assert.deepEqual(aside.rows, [{ aside_key: 'entity:jira:J-1' }]);

    const createCmd = (
      await pool.query<{ payload: WriteCommand }>('select payload from reconciler_outbox order by id limit 1')
    ).rows[0]!.payload;
    const linked = await store.transaction((tx) =>
      processOutcome(tx, deps, outcomeOf(createCmd, 'J-1', 2000)),
    );
    assert.deepEqual(linked.commands, []);
    assert.ok(linked.notes.some((n) => n.code === 'linked'));
    assert.equal((await pool.query('select 1 from reconciler_aside')).rowCount, 0);
    const entities = await pool.query(
      'select platform, entity_id from reconciler_link_entities order by platform',
    );
    assert.deepEqual(entities.rows, [
      { platform: 'jira', entity_id: 'J-1' },
      { platform: 'linear', entity_id: 'L-1' },
    ]);
  });

  it('a manual conflict is listed, and resolving it enqueues the writes and closes it', async () => {
    const l = await store.transaction((tx) =>
      processChange(tx, deps, event('linear', 'L-1', 3000, 'L title', 'u')),
    );
    assert.equal(l.commands.length, 1);
    const j = await store.transaction((tx) =>
      processChange(tx, deps, event('jira', 'J-1', 3500, 'J title', 'u')),
    );
    assert.deepEqual(j.commands, []);
    assert.equal(j.conflicts, 1);
    const open = await store.conflicts({ status: 'open' });
    assert.equal(open.length, 1);
    assert.equal(open[0]!.field, 'title');
    assert.deepEqual(
      open[0]!.record.sides.map((s) => s.valueJson),
      ['"L title"', '"J title"'],
    );
    const rows = await outbox();
    assert.equal(rows.at(-1)!.schema, 'Conflict');
    assert.equal(rows.at(-1)!.topic, config.kafka.topics.conflicts);

    const r = await store.transaction((tx) =>
      processResolve(tx, deps, open[0]!.linkId, open[0]!.conflictId, 'Agreed', 'ada@example.com'),
    );
    assert.ok(r.ok);
    if (r.ok)
      assert.deepEqual(r.processed.commands.map((c) => [c.platform, c.fields.title]).sort(), [
        ['jira', 'Agreed'],
        ['linear', 'Agreed'],
      ]);
    assert.deepEqual(await store.conflicts({ status: 'open' }), []);
    const resolved = await store.conflicts({ conflictId: open[0]!.conflictId });
    assert.equal(resolved[0]!.status, 'resolved');
    assert.equal(resolved[0]!.record.resolvedBy, 'ada@example.com');
  });

  it('the relay marks each row sent once its send succeeded; a failed send stops the pass and is repeated next time', async () => {
    const before = (await outbox()).filter((r) => !r.sent).length;
    assert.ok(before >= 3);
    let calls = 0;
    await assert.rejects(
      store.relay(async () => {
        calls++;
        if (calls === 2) throw new Error('broker unreachable');
        return 'sent';
      }),
      /relaying the reconciler outbox: broker unreachable/,
    );
    assert.equal(calls, 2, 'the pass stops at the failed row');
    assert.equal(
      (await outbox()).filter((r) => !r.sent).length,
      before - 1,
      'the row sent before the failure stays sent (not sent again); the failed one and the rest wait',
    );
    const sent: string[] = [];
    assert.equal(
      await store.relay(async (row) => {
        sent.push(row.id);
        return 'sent';
      }),
      before - 1,
    );
    assert.equal((await outbox()).filter((r) => !r.sent).length, 0);
    assert.deepEqual(
      [...sent].sort((a, b) => Number(a) - Number(b)),
      sent,
      'in outbox order',
    );
    assert.equal(await store.relay(async () => assert.fail('nothing left to send')), 0);
  });

  it('relays commands to the real Kafka as Avro that a consumer decodes', async () => {
    const ev = event('linear', 'L-9', 9000, 'Relayed through Kafka', 'c');
    const decided = await store.transaction((tx) => processChange(tx, deps, ev));
    const cmd = decided.commands[0]!;
    const kafka = createKafka(config.kafka);
    const jiraTopic = `${config.kafka.topics.commandsPrefix}jira.v1`;
    await ensureTopics(
      kafka,
      topicSpecs(config.kafka, ['jira']).filter((s) => s.name === jiraTopic),
    );
    const serde = createSerde(createRegistry(config.registry.url), config.kafka.topics);
    const producer = createProducer(kafka, serde);
    await producer.connect();
    const got: WriteCommand[] = [];
    let resolveGot: () => void;
    const received = new Promise<void>((r) => (resolveGot = r));
    const consumer = createConsumer<WriteCommand>(kafka, serde, {
      groupId: `${config.kafka.clientId}-reader`,
      topics: [jiraTopic],
      fromBeginning: true,
      async eachMessage(rec) {
        if (rec.value && rec.value.commandId === cmd.commandId) {
          got.push(rec.value);
          assert.equal(rec.key, cmd.linkId);
          resolveGot();
        }
      },
    });
    try {
      await consumer.start();
      const n = await store.relay(async (row) => {
        if (row.schema === 'WriteCommand')
          await producer.produce<'WriteCommand'>(row.topic, row.key, row.payload);
        return 'sent';
      });
      assert.equal(n, 1);
      await Promise.race([
        received,
        new Promise((_, rej) => setTimeout(() => rej(new Error('command not consumed within 30s')), 30_000)),
      ]);
      // avsc decodes into record classes; compare the values.
      assert.deepEqual(JSON.parse(JSON.stringify(got[0])), cmd);
    } finally {
      await consumer.stop();
      await producer.disconnect();
    }
  });
});
