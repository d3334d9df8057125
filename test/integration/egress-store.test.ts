/**
 * Egress on the real test Postgres: the applied-commands store through a connection that drops.
 * The platform is the Jira emulator, written to through jira.js as in production.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { createJiraApplier } from '../../services/connectors/jira/apply.ts';
import { jiraConfigSchema } from '../../services/connectors/jira/config.ts';
import { classifyJiraError } from '../../services/connectors/jira/errors.ts';
import { entityState } from '../../services/connectors/types.ts';
import { createPool, migrate, type Pool } from '../../services/core/db/index.ts';
import { CircuitBreaker, RateBudget } from '../../services/core/resilience/index.ts';
import { processCommands, type CommandMeta, type EgressDeps } from '../../services/egress/egress.ts';
import { createAppliedStore } from '../../services/egress/store.ts';
import type { WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import type { RunningEmulator } from '../emulators/common/server.ts';
import { DEMO_BOT_TOKEN, demoSeed, startJiraEmulator } from '../emulators/jira/index.ts';
import {
  createConsumer,
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
  ensureTopics,
  topicSpecs,
} from '../../services/core/kafka/index.ts';
import { freshDatabase, rand, testConfig } from './core-helpers.ts';

let db: { url: string; drop(): Promise<void> };
let pool: Pool;
let emu: RunningEmulator;
/** Accepts connections and drops them at once: what a Postgres failover looks like to the driver. */
let dropper: Server;
let dropperUrl: string;

before(async () => {
  db = await freshDatabase();
  await migrate(db.url);
  pool = createPool(db.url, { max: 2 });
  emu = await startJiraEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
  dropper = createServer((s) => s.destroy());
  await new Promise<void>((r) => dropper.listen(0, '127.0.0.1', r));
  const u = new URL(db.url);
  u.host = `127.0.0.1:${(dropper.address() as AddressInfo).port}`;
  dropperUrl = u.toString();
});
after(async () => {
  await pool?.end();
  await db?.drop();
  await emu?.close();
  dropper?.close();
});

function deps(): EgressDeps & { outcomes: WriteOutcome[]; dead: string[]; calls: () => number } {
  const registry = new Registry();
  const outcomes: WriteOutcome[] = [];
  const dead: string[] = [];
  let calls = 0;
  const applier = createJiraApplier({
    config: jiraConfigSchema.parse({
      host: emu.url,
      email: 'lockstep-bot@example.com',
      apiToken: DEMO_BOT_TOKEN,
      webhookSecret: 'unused-here',
      projects: ['ENG'],
    }),
    botUserId: null,
  });
  const counter = (name: string, labelNames: string[]) =>
    new Counter({ name, help: name, labelNames, registers: [registry] });
  return {
    outcomes,
    dead,
    calls: () => calls,
    platform: 'jira',
    applier: {
      findByMarker: applier.findByMarker,
      apply: (c) => {
        calls++;
        return applier.apply(c);
      },
    },
    classify: classifyJiraError,
    budget: new RateBudget({ limit: 100, perMs: 1000 }),
    // One retriable failure would open it: an infrastructure error must not count.
    breaker: new CircuitBreaker({ failureThreshold: 1, openMs: 60_000 }),
    applied: createAppliedStore(pool, 'jira'),
    publishOutcome: async (o) => void outcomes.push(o),
    deadLetter: async (p, e) => void dead.push(`${p.cmd.commandId}:${e.category}`),
    retry: { maxAttempts: 4, baseMs: 20, maxMs: 200 },
    heartbeat: async () => {},
    stopping: () => false,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: Date.now,
    logger: pino({ level: 'silent' }),
    metrics: {
      commands: counter('c', ['platform', 'result']) as Counter<'platform' | 'result'>,
      apiCalls: counter('a', ['platform', 'result']) as Counter<'platform' | 'result'>,
      applySeconds: new Histogram({ name: 'h', help: 'h', labelNames: ['platform'], registers: [registry] }),
      infraRetries: counter('i', ['platform', 'step']) as Counter<'platform' | 'step'>,
    },
  };
}

const meta: CommandMeta = { topic: 'cmds', partition: 0, offset: '0', key: 'k', raw: null, headers: {} };
const create = (id: string): { cmd: WriteCommand; meta: CommandMeta } => ({
  meta,
  cmd: {
    commandId: id,
    linkId: rand('link'),
    flowId: 'eng',
    platform: 'jira',
    workspace: 'ENG',
    action: 'create',
    entityType: 'issue',
    targetId: null,
    parentId: null,
    fields: entityState({ title: `created by ${id}` }),
    base: null,
    marker: `marker-${id}`,
    causedBy: null,
    unresolved: [],
    cause: null,
    createdAtMs: 1,
  },
});

describe('egress with the real Postgres store and the real Kafka', () => {
  it('a dropped Postgres connection while recording a create is waited out: one create, outcome applied', async () => {
    const d = deps();
    const real = d.applied;
    const broken = createAppliedStore(createPool(dropperUrl, { max: 1 }), 'jira');
    let recordCalls = 0;
    // The first record goes through a connection that drops (the driver's own error), the rest
    // through the real database.
    d.applied = { get: real.get, record: (ids, o) => (recordCalls++ === 0 ? broken : real).record(ids, o) };
    const id = rand('cmd');
    const from = emu.ledger.list().at(-1)?.seq ?? 0;
    await processCommands(d, [create(id)]);
    const creates = emu.ledger.list(from).filter((e) => e.operation === 'createIssue');
    assert.equal(creates.length, 1, 'exactly one create call');
    assert.equal(d.calls(), 1, 'the platform was not called again');
    assert.ok(recordCalls >= 2, `recording was retried (${recordCalls} calls)`);
    assert.equal(d.breaker.current(), 'closed');
    assert.deepEqual(
      d.outcomes.map((o) => o.status),
      ['applied'],
    );
    assert.equal((await real.get(id))?.status, 'applied');
    assert.deepEqual(d.dead, []);
  });

  it('a publish that fails on a dropped Kafka connection is retried alone: one create, one outcome on the topic', async () => {
    const config = testConfig();
    const topic = config.kafka.topics.outcomes;
    const kafka = createKafka(config.kafka);
    await ensureTopics(
      kafka,
      topicSpecs(config.kafka, []).filter((t) => t.name === topic),
    );
    const serde = createSerde(createRegistry(config.registry.url), config.kafka.topics);
    const producer = createProducer(kafka, serde);
    await producer.connect();
    // A broker address whose connections drop at once: kafkajs' own connection error.
    const broken = createProducer(
      createKafka({ ...config.kafka, brokers: [`127.0.0.1:${(dropper.address() as AddressInfo).port}`] }),
      serde,
    );
    const d = deps();
    let publishCalls = 0;
    d.publishOutcome = async (o) => {
      if (publishCalls++ === 0) {
        await broken.connect();
        await broken.produce(topic, o.linkId, o);
      }
      await producer.produce(topic, o.linkId, o);
    };
    const id = rand('cmd');
    const seen: WriteOutcome[] = [];
    const consumer = createConsumer<WriteOutcome>(kafka, serde, {
      groupId: `${config.kafka.clientId}-reader`,
      topics: [topic],
      fromBeginning: true,
      async eachMessage(rec) {
        if (rec.value?.commandId === id) seen.push(rec.value);
      },
    });
    try {
      await consumer.start();
      const from = emu.ledger.list().at(-1)?.seq ?? 0;
      await processCommands(d, [create(id)]);
      assert.ok(publishCalls >= 2, `publishing was retried (${publishCalls} calls)`);
      assert.equal(emu.ledger.list(from).filter((e) => e.operation === 'createIssue').length, 1);
      assert.equal(d.calls(), 1, 'the platform was not called again');
      assert.equal(d.breaker.current(), 'closed');
      assert.deepEqual(d.dead, []);
      const deadline = Date.now() + 30_000;
      while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(seen.length, 1, 'the outcome was not consumed from the real topic within 30 s');
      assert.equal(seen[0]?.status, 'applied');
      assert.equal((await d.applied.get(id))?.status, 'applied');
    } finally {
      await consumer.stop();
      await producer.disconnect();
      await broken.disconnect().catch(() => undefined);
    }
  });

  it('one command delivered twice in a row (an outbox resend) is applied and recorded once, and both copies are finished', async () => {
    const d = deps();
    const cid = rand('cmd');
    await processCommands(d, [create(cid)]);
    const created = d.outcomes.at(-1);
    assert.equal(created?.status, 'applied');
    const c = create(cid).cmd;
    const uid = rand('cmd');
    const update: { cmd: WriteCommand; meta: CommandMeta } = {
      meta,
      cmd: {
        ...c,
        commandId: uid,
        linkId: created!.linkId,
        action: 'update',
        targetId: created!.targetId,
        marker: null,
        fields: entityState({ title: `updated by ${uid}` }),
        base: entityState({ title: `created by ${cid}` }),
      },
    };
    const callsBefore = d.calls();
    const copies = [update, { ...update, meta: { ...meta, offset: '1' } }];
    const finished = await Promise.race([
      processCommands(d, copies),
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error('the batch was not finished within 60 s (recording stuck?)')),
          60_000,
        ),
      ),
    ]);
    assert.equal(finished.length, 2, 'both copies finished (their offsets are committed)');
    assert.equal(d.calls() - callsBefore, 1, 'one platform call');
    const outcome = d.outcomes.at(-1);
    assert.equal(outcome?.commandId, uid);
    assert.equal(outcome?.status, 'applied');
    assert.deepEqual(outcome?.coalesced, [], 'a copy is not a coalesced command');
    assert.equal((await createAppliedStore(pool, 'jira').get(uid))?.status, 'applied');
  });

  it('a recorded failure is replaced by the success of its retry, and a success is never replaced', async () => {
    const store = createAppliedStore(pool, 'jira');
    const id = rand('cmd');
    const c = create(id).cmd;
    const base: WriteOutcome = {
      commandId: id,
      linkId: c.linkId,
      flowId: c.flowId,
      platform: c.platform,
      workspace: c.workspace,
      entityType: c.entityType,
      action: c.action,
      status: 'failed',
      targetId: null,
      targetKey: null,
      written: null,
      platformVersion: null,
      platformTsMs: null,
      error: null,
      coalesced: [],
      tsMs: 1,
    };
    await store.record([id], { ...base, status: 'failed' });
    await store.record([id], { ...base, status: 'applied' });
    assert.equal((await store.get(id))?.status, 'applied');
    await store.record([id], { ...base, status: 'failed' });
    assert.equal((await store.get(id))?.status, 'applied');
  });
});
