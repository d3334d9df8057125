/**
 * The only module that imports kafkajs: switching clients later touches this folder only.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel as KafkaLogLevel, Partitioners, type IHeaders, type LogEntry } from 'kafkajs';
import type { CoreConfig } from '../config/index.ts';
import { LockstepError } from '../errors/index.ts';
import type { Logger } from '../logging/index.ts';
import type { AvroSerde } from './registry.ts';
import { commandsTopic, type SchemaName, type SchemaTypes } from './schemas.ts';

export type KafkaConfig = CoreConfig['kafka'];
export type Headers = Record<string, string>;

export interface KafkaHandle {
  readonly kafka: Kafka;
  readonly config: KafkaConfig;
}

const levelName: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};

export function createKafka(config: KafkaConfig, logger?: Logger): KafkaHandle {
  const kafka = new Kafka({
    clientId: config.clientId,
    brokers: config.brokers,
    logLevel: KafkaLogLevel.WARN,
    // kafkajs logs through ours so its lines are JSON with trace ids too.
    logCreator: () => (entry: LogEntry) => {
      if (!logger) return;
      const { message, ...rest } = entry.log;
      logger[levelName[entry.level] ?? 'info']({ kafka: { namespace: entry.namespace, ...rest } }, message);
    },
  });
  return { kafka, config };
}

function toHeaders(h: IHeaders | undefined): Headers {
  const out: Headers = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}

export interface LockstepProducer {
  connect(): Promise<void>;
  /** Send one record; resolves once acknowledged by all in-sync replicas (acks=all). */
  produce<N extends SchemaName>(
    topic: string,
    key: string,
    value: SchemaTypes[N],
    headers?: Headers,
  ): Promise<{ partition: number; offset: string }>;
  /** Send pre-encoded bytes (replay, DLQ retry). */
  produceRaw(
    topic: string,
    key: string | null,
    value: Buffer | null,
    headers?: Headers,
  ): Promise<{ partition: number; offset: string }>;
  disconnect(): Promise<void>;
}

export function createProducer(handle: KafkaHandle, serde: AvroSerde): LockstepProducer {
  // Idempotent: broker-side dedupe of retried batches, so a retry never writes a record twice.
  // Java-compatible murmur2 partitioner: the same key lands on the same partition from any client.
  const producer = handle.kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  // One send, with all its retries, at a time. kafkajs (2.2.4) gives a produce request the
  // partition's next sequence number and takes the number back when the request fails. When the
  // broker had written the record and only its answer was lost (a reset connection), a send that
  // goes out before the retry gets the number the broker already holds and is answered as that
  // record's duplicate: acknowledged and never written; the retry then writes the first record
  // again under a new number. Sending one at a time makes the retry go first, so the broker
  // dedupes it as meant. test/chaos/producer-sequence.test.ts makes that fault exactly.
  // The cost is one round trip per record per process (loopback: a few ms), well above what
  // the platforms' rate limits let through.
  let tail: Promise<unknown> = Promise.resolve();
  function oneAtATime<T>(send: () => Promise<T>): Promise<T> {
    const sent = tail.then(send, send);
    tail = sent.catch(() => undefined);
    return sent;
  }
  function sendRaw(topic: string, key: string | null, value: Buffer | null, headers?: Headers) {
    return oneAtATime(async () => {
      try {
        const [meta] = await producer.send({ topic, acks: -1, messages: [{ key, value, headers }] });
        return { partition: meta?.partition ?? -1, offset: meta?.baseOffset ?? '-1' };
      } catch (err) {
        throw new LockstepError(`producing to ${topic}`, { category: 'network', cause: err });
      }
    });
  }
  return {
    connect: () => producer.connect(),
    async produce(topic, key, value, headers) {
      return sendRaw(topic, key, await serde.serialize(topic, value), headers);
    },
    produceRaw: sendRaw,
    disconnect: () => producer.disconnect(),
  };
}

export interface ConsumedRecord<T> {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: string | null;
  value: T;
  raw: Buffer | null;
  headers: Headers;
}

export interface ConsumeOptions<T> {
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  /** Called per record, in order per partition; the offset is committed after it resolves. */
  eachMessage(record: ConsumedRecord<T>): Promise<void>;
}

export interface LockstepConsumer {
  /** Subscribe and start; resolves once the consumer runs (not when it stops). */
  start(): Promise<void>;
  /** Leave the group after in-flight handlers finish. */
  stop(): Promise<void>;
  /** Pause/resume a topic (circuit breaker: commands wait in Kafka). */
  pause(topic: string): void;
  resume(topic: string): void;
  onCrash(fn: (err: unknown) => void): void;
}

/** `T` is the decoded value type (e.g. ChangeEvent); a null value (tombstone) is passed as null. */
export function createConsumer<T>(
  handle: KafkaHandle,
  serde: AvroSerde,
  opts: ConsumeOptions<T | null>,
): LockstepConsumer {
  const consumer = handle.kafka.consumer({ groupId: opts.groupId });
  return {
    async start() {
      await consumer.connect();
      await consumer.subscribe({ topics: opts.topics, fromBeginning: opts.fromBeginning ?? false });
      await consumer.run({
        eachMessage: async ({ topic, partition, message }) => {
          const value =
            message.value === null ? null : ((await serde.deserialize(topic, message.value)) as T);
          await opts.eachMessage({
            topic,
            partition,
            offset: message.offset,
            timestamp: message.timestamp,
            key: message.key?.toString('utf8') ?? null,
            value,
            raw: message.value,
            headers: toHeaders(message.headers),
          });
        },
      });
    },
    stop: () => consumer.disconnect(),
    pause: (topic) => consumer.pause([{ topic }]),
    resume: (topic) => consumer.resume([{ topic }]),
    onCrash: (fn) => {
      consumer.on(consumer.events.CRASH, (e) => fn(e.payload.error));
    },
  };
}

export interface TopicSpec {
  name: string;
  partitions: number;
  replicationFactor: number;
  /** Kafka topic configs; all topics use cleanup.policy=delete (see ensureTopics). */
  configs: Record<string, string>;
}

/**
 * DESIGN.md's topics with their settings, with a commands topic for each of `platforms` (the
 * registry's COMMAND_PLATFORMS: core cannot import the connector registry, see app/topics.ts). All are `delete`-retention, none compacted: outcomes and
 * conflicts are keyed by link id and carry history (many per link), which compaction would drop.
 */
export function topicSpecs(config: KafkaConfig, platforms: readonly string[]): TopicSpec[] {
  const { topics, retentionMs: r, partitions, replicationFactor } = config;
  const spec = (name: string, retention: number): TopicSpec => ({
    name,
    partitions,
    replicationFactor,
    configs: { 'cleanup.policy': 'delete', 'retention.ms': String(retention) },
  });
  return [
    spec(topics.changes, r.changes),
    ...platforms.map((p) => spec(commandsTopic(topics, p), r.commands)),
    spec(topics.outcomes, r.outcomes),
    spec(topics.conflicts, r.conflicts),
    spec(topics.dlq, r.dlq),
    spec(topics.audit, r.audit),
  ];
}

export interface EnsureTopicsOptions {
  /** How long to wait for every partition to have a leader that serves it (default 60 s). */
  leaderWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Create missing topics, then wait until every partition of every topic in `specs` (created or
 * found) has a leader that answers for it. Existing topics are left as they are (kafkajs'
 * alterConfigs replaces a topic's whole dynamic config, which would wipe an operator's settings);
 * they are reported.
 */
export async function ensureTopics(
  handle: KafkaHandle,
  specs: TopicSpec[],
  opts: EnsureTopicsOptions = {},
): Promise<{ created: string[]; existing: string[]; warnings: string[] }> {
  const admin = handle.kafka.admin();
  let missing: TopicSpec[];
  let present: Set<string>;
  await admin.connect();
  try {
    present = new Set(await admin.listTopics());
    missing = specs.filter((s) => !present.has(s.name));
    if (missing.length) {
      await admin.createTopics({
        // kafkajs' own wait gives up after `timeout` and only retries LEADER_NOT_AVAILABLE;
        // waitForLeaders below is the wait.
        waitForLeaders: false,
        timeout: 30_000,
        topics: missing.map((s) => ({
          topic: s.name,
          numPartitions: s.partitions,
          replicationFactor: s.replicationFactor,
          configEntries: Object.entries(s.configs).map(([name, value]) => ({ name, value })),
        })),
      });
    }
  } catch (err) {
    throw new LockstepError('ensuring Kafka topics', { category: 'network', cause: err });
  } finally {
    await admin.disconnect();
  }
  await waitForLeaders(
    handle,
    specs.map((s) => s.name),
    opts,
  );
  return {
    created: missing.map((s) => s.name),
    existing: specs.filter((s) => present.has(s.name)).map((s) => s.name),
    warnings: replicationWarnings(
      await replicationOf(
        handle,
        specs.map((s) => s.name),
      ),
    ),
  };
}

export interface ReplicationInfo {
  brokers: number;
  /** Replicas per partition of each topic (the fewest over its partitions). */
  topics: { name: string; replicas: number }[];
}

async function replicationOf(handle: KafkaHandle, topics: string[]): Promise<ReplicationInfo> {
  const admin = handle.kafka.admin();
  await admin.connect();
  try {
    const { brokers } = await admin.describeCluster();
    const meta = await admin.fetchTopicMetadata({ topics });
    return {
      brokers: brokers.length,
      topics: meta.topics.map((t) => ({
        name: t.name,
        replicas: Math.min(...t.partitions.map((p) => p.replicas.length)),
      })),
    };
  } finally {
    await admin.disconnect();
  }
}

/**
 * One replica is right for a one-broker stack and loses data on a cluster: a broker that dies
 * takes the only copy of its partitions with it. The documented production setting is
 * replication factor 3 with min.insync.replicas=2 (README, production Kafka settings).
 */
export function replicationWarnings(info: ReplicationInfo): string[] {
  if (info.brokers < 2) return [];
  return info.topics
    .filter((t) => t.replicas < 2)
    .map(
      (t) =>
        `topic ${t.name} has replication factor ${t.replicas} on a cluster of ${info.brokers} brokers: ` +
        'losing one broker loses its records; use kafka.replicationFactor 3 with min.insync.replicas=2',
    );
}

/**
 * Right after a topic is created, its partitions can have no leader yet, and — on KRaft — the
 * metadata can already name a leader whose broker has not yet taken the partition over (it
 * answers NOT_LEADER_FOR_PARTITION to a ListOffsets). A producer retries that; an admin call such
 * as `fetchTopicOffsets` does not. So this polls, each round with a fresh admin client (kafkajs
 * caches metadata for minutes), until the metadata names a leader for every partition *and* a
 * ListOffsets for every partition is answered, and fails naming the topic that is not served.
 */
/**
 * Resolves once every partition of `topics` has a leader that serves it: in the metadata and
 * answering an offsets request. kafkajs' own `createTopics({ waitForLeaders: true })` retries only
 * LEADER_NOT_AVAILABLE, so a read right after it can still meet UNKNOWN_TOPIC_OR_PARTITION.
 */
export async function waitForLeaders(
  handle: KafkaHandle,
  topics: string[],
  opts: EnsureTopicsOptions = {},
): Promise<void> {
  const waitMs = opts.leaderWaitMs ?? 60_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + waitMs;
  for (let round = 0; ; round++) {
    const problem = await leaderProblem(handle, topics);
    if (problem === null) return;
    if (Date.now() >= deadline)
      throw new LockstepError(`waiting for partition leaders: ${problem} after ${waitMs / 1000} s`, {
        category: 'network',
      });
    await sleep(Math.min(100 * 2 ** round, 1000));
  }
}

async function leaderProblem(handle: KafkaHandle, topics: string[]): Promise<string | null> {
  const admin = handle.kafka.admin();
  try {
    await admin.connect();
    const { topics: meta } = await admin.fetchTopicMetadata({ topics });
    for (const name of topics) {
      const t = meta.find((m) => m.name === name);
      if (!t || t.partitions.length === 0) return `topic ${name} is not in the cluster metadata yet`;
      const leaderless = t.partitions
        .filter((p) => p.leader < 0 || p.partitionErrorCode !== 0)
        .map((p) => p.partitionId)
        .sort((a, b) => a - b);
      if (leaderless.length)
        return `topic ${name} has no leader for partition${leaderless.length > 1 ? 's' : ''} ${leaderless.join(', ')}`;
    }
    for (const name of topics) {
      try {
        await admin.fetchTopicOffsets(name);
      } catch (err) {
        return `the leader of a partition of topic ${name} does not serve it yet (${errorText(err)})`;
      }
    }
    return null;
  } catch (err) {
    return `reading the metadata of ${topics.join(', ')} failed (${errorText(err)})`;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface TopicInfo {
  name: string;
  partitions: number;
  /** Sum over partitions of (high watermark − low watermark). */
  messages: number;
}

export async function describeTopics(handle: KafkaHandle, includeInternal = false): Promise<TopicInfo[]> {
  const admin = handle.kafka.admin();
  await admin.connect();
  try {
    const names = (await admin.listTopics()).filter((t) => includeInternal || !t.startsWith('__')).sort();
    const out: TopicInfo[] = [];
    for (const name of names) {
      const offsets = await admin.fetchTopicOffsets(name);
      out.push({
        name,
        partitions: offsets.length,
        messages: offsets.reduce((n, o) => n + (Number(o.high) - Number(o.low)), 0),
      });
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/** Per-partition [low, high) offsets of a topic. */
export async function topicOffsets(
  handle: KafkaHandle,
  topic: string,
): Promise<{ partition: number; low: string; high: string }[]> {
  const admin = handle.kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).map((o) => ({
      partition: o.partition,
      low: o.low,
      high: o.high,
    }));
  } finally {
    await admin.disconnect();
  }
}

/** A consumer group's committed offset per partition of one topic (null: nothing committed). */
export async function groupOffsets(
  handle: KafkaHandle,
  groupId: string,
  topic: string,
): Promise<{ partition: number; offset: string | null }[]> {
  const admin = handle.kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (t?.partitions ?? [])
      .map((p) => ({ partition: p.partition, offset: p.offset === '-1' ? null : p.offset }))
      .sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}

export interface OffsetReset {
  partition: number;
  /** The committed offset before the reset (null: nothing committed). */
  from: string | null;
  to: string;
}

/**
 * Moves a consumer group's committed offsets on one topic to the earliest retained records (or to
 * the given offsets), so the
 * group's next member reads the topic again from there (`lockstep replay`). Kafka refuses to move
 * a group that has members: this waits up to `waitEmptyMs` for the group to become empty (a
 * crashed member leaves when its session times out) and fails naming the group's state otherwise.
 */
export async function resetGroupOffsets(
  handle: KafkaHandle,
  opts: {
    groupId: string;
    topic: string;
    waitEmptyMs?: number;
    sleep?: (ms: number) => Promise<void>;
    /** Where to move each partition (`replay --from`: offsetsForTime); absent: the earliest retained. */
    offsets?: ReadonlyMap<number, string>;
  },
): Promise<OffsetReset[]> {
  const admin = handle.kafka.admin();
  await admin.connect();
  try {
    await waitGroupEmpty(admin, opts.groupId, 'resetting offsets of', opts.waitEmptyMs ?? 0, opts.sleep);
    const [committed] = await admin.fetchOffsets({ groupId: opts.groupId, topics: [opts.topic] });
    const before = new Map((committed?.partitions ?? []).map((p) => [p.partition, p.offset]));
    const low = await admin.fetchTopicOffsets(opts.topic);
    const resets: OffsetReset[] = low
      .map((o) => {
        const from = before.get(o.partition);
        return {
          partition: o.partition,
          from: from === undefined || from === '-1' ? null : from,
          to: opts.offsets?.get(o.partition) ?? o.low,
        };
      })
      .sort((a, b) => a.partition - b.partition);
    await admin.setOffsets({
      groupId: opts.groupId,
      topic: opts.topic,
      partitions: resets.map((r) => ({ partition: r.partition, offset: r.to })),
    });
    return resets;
  } catch (err) {
    if (err instanceof LockstepError) throw err;
    throw new LockstepError(`resetting offsets of consumer group ${opts.groupId} on ${opts.topic}`, {
      category: 'network',
      cause: err,
    });
  } finally {
    await admin.disconnect();
  }
}

type Admin = ReturnType<Kafka['admin']>;
const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Waits up to `waitMs` for a consumer group to have no members (Kafka moves only the offsets of
 * an empty group; a crashed member leaves when its session times out), and fails naming the
 * group's state otherwise. `action` starts the error message ("resetting offsets of").
 */
async function waitGroupEmpty(
  admin: Admin,
  groupId: string,
  action: string,
  waitMs: number,
  sleep: (ms: number) => Promise<void> = defaultSleep,
): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const [g] = (await admin.describeGroups([groupId])).groups;
    const state = g?.state ?? 'Dead';
    if (state === 'Empty' || state === 'Dead') return;
    if (Date.now() >= deadline)
      throw new LockstepError(
        `${action} consumer group ${groupId}: the group is ${state} with ${g?.members.length ?? 0} member(s); stop its consumers first`,
        { category: 'conflict' },
      );
    await sleep(1000);
  }
}

/** One consumer group's committed offsets on the topics it reads (null: nothing committed). */
export interface GroupOffsets {
  groupId: string;
  topics: { topic: string; partitions: { partition: number; offset: string | null }[] }[];
}

/**
 * The committed offsets of consumer groups, each on its topics, after waiting up to `waitEmptyMs`
 * for every group to have no members: offsets read while a member runs are already stale (a
 * backup taken so would not match the database it is taken with).
 */
export async function readGroupOffsets(
  handle: KafkaHandle,
  groups: readonly { groupId: string; topics: readonly string[] }[],
  opts: { waitEmptyMs?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<GroupOffsets[]> {
  const admin = handle.kafka.admin();
  try {
    await admin.connect();
    const out: GroupOffsets[] = [];
    for (const g of groups) {
      await waitGroupEmpty(admin, g.groupId, 'reading offsets of', opts.waitEmptyMs ?? 0, opts.sleep);
      const fetched = await admin.fetchOffsets({ groupId: g.groupId, topics: [...g.topics] });
      out.push({
        groupId: g.groupId,
        topics: g.topics.map((topic) => ({
          topic,
          partitions: (fetched.find((t) => t.topic === topic)?.partitions ?? [])
            .map((p) => ({ partition: p.partition, offset: p.offset === '-1' ? null : p.offset }))
            .sort((a, b) => a.partition - b.partition),
        })),
      });
    }
    return out;
  } catch (err) {
    if (err instanceof LockstepError) throw err;
    throw new LockstepError('reading consumer group offsets', { category: 'network', cause: err });
  } finally {
    await admin.disconnect();
  }
}

export interface OffsetSet {
  groupId: string;
  topic: string;
  partition: number;
  /** The committed offset before (null: nothing committed). */
  from: string | null;
  to: string;
  /** The topic's [low, high) when it was set: records below `low` are gone (retention). */
  low: string;
  high: string;
}

/**
 * Checks that every group is empty and every offset lies inside its topic (at most the high
 * watermark: an offset past it means another cluster or a recreated topic), then sets them all.
 * A null offset (nothing was committed) becomes the earliest retained record, which is where
 * Lockstep's consumers (`fromBeginning`) start a partition with nothing committed. Nothing is set
 * unless every check passes.
 */
export async function setGroupOffsets(
  handle: KafkaHandle,
  groups: readonly GroupOffsets[],
  opts: { waitEmptyMs?: number; sleep?: (ms: number) => Promise<void>; dryRun?: boolean } = {},
): Promise<OffsetSet[]> {
  const admin = handle.kafka.admin();
  try {
    await admin.connect();
    const plan: OffsetSet[] = [];
    const existing = new Set(await admin.listTopics());
    for (const g of groups) {
      await waitGroupEmpty(admin, g.groupId, 'setting offsets of', opts.waitEmptyMs ?? 0, opts.sleep);
      for (const t of g.topics) {
        if (!existing.has(t.topic))
          throw new LockstepError(
            `setting offsets of consumer group ${g.groupId}: topic ${t.topic} does not exist in this Kafka cluster`,
            { category: 'validation' },
          );
        const water = new Map((await admin.fetchTopicOffsets(t.topic)).map((o) => [o.partition, o]));
        const [committed] = await admin.fetchOffsets({ groupId: g.groupId, topics: [t.topic] });
        const before = new Map((committed?.partitions ?? []).map((p) => [p.partition, p.offset]));
        for (const p of t.partitions) {
          const w = water.get(p.partition);
          if (!w)
            throw new LockstepError(
              `setting offsets of consumer group ${g.groupId}: ${t.topic} has no partition ${p.partition} (it has ${water.size})`,
              { category: 'validation' },
            );
          const to = p.offset ?? w.low;
          if (BigInt(to) > BigInt(w.high))
            throw new LockstepError(
              `setting offsets of consumer group ${g.groupId}: ${t.topic}[${p.partition}] offset ${to} is past the topic's end (${w.high}); is this the Kafka cluster the backup was taken from?`,
              { category: 'validation' },
            );
          const from = before.get(p.partition);
          plan.push({
            groupId: g.groupId,
            topic: t.topic,
            partition: p.partition,
            from: from === undefined || from === '-1' ? null : from,
            to,
            low: w.low,
            high: w.high,
          });
        }
      }
    }
    if (opts.dryRun) return plan;
    // kafkajs sets a group's offsets by joining it as a member (seconds per call: the broker's
    // rebalance delay), so the groups go in parallel; one group's topics one after the other.
    await Promise.all(
      groups.map(async (g) => {
        for (const t of g.topics) {
          const partitions = plan
            .filter((x) => x.groupId === g.groupId && x.topic === t.topic)
            .map((x) => ({ partition: x.partition, offset: x.to }));
          if (partitions.length > 0)
            await admin.setOffsets({ groupId: g.groupId, topic: t.topic, partitions });
        }
      }),
    );
    return plan;
  } catch (err) {
    if (err instanceof LockstepError) throw err;
    throw new LockstepError('setting consumer group offsets', { category: 'network', cause: err });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Per partition, the offset of the first record whose timestamp is at or after `tsMs` (Kafka's
 * ListOffsets by time); a partition with no such record answers its end offset (nothing to read).
 */
export async function offsetsForTime(
  handle: KafkaHandle,
  topic: string,
  tsMs: number,
): Promise<{ partition: number; offset: string }[]> {
  const admin = handle.kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsetsByTimestamp(topic, tsMs))
      .map((o) => ({ partition: o.partition, offset: o.offset }))
      .sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}

export interface RawRecord {
  partition: number;
  offset: string;
  timestampMs: number;
  key: string | null;
  value: Buffer | null;
  headers: Headers;
}

/**
 * Reads a topic from its earliest retained records up to `ends` (per partition, exclusive; a
 * partition not named is not read), calling `onRecord` in offset order per partition. It commits
 * nothing: a throw-away consumer group without auto-commit, deleted at the end, so reading moves
 * no group's offsets (`replay --dry-run`).
 */
export async function readTopicUntil(
  handle: KafkaHandle,
  topic: string,
  ends: ReadonlyMap<number, bigint>,
  onRecord: (r: RawRecord) => Promise<void> | void,
): Promise<void> {
  const low = new Map((await topicOffsets(handle, topic)).map((o) => [o.partition, BigInt(o.low)]));
  const pending = new Map<number, bigint>();
  for (const [p, end] of ends) if (end > (low.get(p) ?? 0n)) pending.set(p, end);
  if (pending.size === 0) return;
  const groupId = `${handle.config.clientId}-read-${randomUUID()}`;
  const consumer = handle.kafka.consumer({ groupId });
  let finish!: () => void;
  let fail!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  // A crash while connecting is thrown by connect() itself; this keeps that rejection handled.
  done.catch(() => undefined);
  consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error));
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const end = pending.get(partition);
        if (end === undefined || BigInt(message.offset) >= end) return;
        try {
          await onRecord({
            partition,
            offset: message.offset,
            timestampMs: Number(message.timestamp),
            key: message.key?.toString('utf8') ?? null,
            value: message.value,
            headers: toHeaders(message.headers),
          });
        } catch (err) {
          fail(err);
          return;
        }
        if (BigInt(message.offset) >= end - 1n) pending.delete(partition);
        if (pending.size === 0) finish();
      },
    });
    await done;
  } finally {
    await consumer.disconnect();
    const admin = handle.kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupId]))
      .catch(() => undefined) // a group left behind holds no offsets (nothing was committed)
      .finally(() => admin.disconnect());
  }
}
