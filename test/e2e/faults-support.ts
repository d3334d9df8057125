/** Helpers of faults.test.ts: the bot's ledger identity, the dead-letter topic, the CLI, reconciler metrics. */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  createConsumer,
  createKafka,
  createRegistry,
  createSerde,
  groupOffsets,
  topicOffsets,
} from '../../services/core/kafka/index.ts';
import type { DeadLetter } from '../../schemas/generated/types.ts';
import type { LedgerEntry } from '../emulators/common/ledger.ts';
import { pendingWork, type E2E } from './harness.ts';
import { writes, type E2EPlatform } from './helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export function botId(e: E2E, platform: E2EPlatform): string {
  const emu = e.emulators.find(([p]) => p === platform)?.[1];
  if (!emu) throw new Error(`looking up the ${platform} emulator's bot user: this world has no ${platform}`);
  const bot = emu.kit.actors.all().find((u) => u.isBot);
  if (!bot) throw new Error(`looking up the ${platform} emulator's bot user: none seeded`);
  return bot.id;
}

/** Every write (any actor) on every emulator of the world. */
function allWrites(e: E2E): LedgerEntry[] {
  return e.emulators.flatMap(([p, emu]) => writes(emu.ledger.list(), p as E2EPlatform));
}

/**
 * Like harness `settled`, for a world that polls: polls read forever, so the window counts writes
 * (by anyone), not every request. Settled when nothing is pending (harness `pendingWork`) at the
 * start and the end of a `quietMs` window with no write.
 */
export async function writesSettled(e: E2E, quietMs = 3000, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending: string[] = [];
  while (Date.now() < deadline) {
    pending = await pendingWork(e);
    if (pending.length === 0) {
      const before = allWrites(e).length;
      await new Promise((r) => setTimeout(r, quietMs));
      pending = await pendingWork(e);
      if (pending.length === 0 && allWrites(e).length === before) return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `waiting for writes to stop: still busy after ${timeoutMs} ms (${pending.join('; ') || 'writes still happening'})`,
  );
}

/** Runs `lockstep <args>` with the checkout's pinned Node; resolves with stdout, rejects with stderr. */
export async function lockstep(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(ROOT, 'bin', 'lockstep.mjs'), ...args],
    {
      cwd: ROOT,
      // A generous upper bound: one CLI run starts Node, loads the config and talks to Kafka.
      timeout: 120_000,
    },
  );
  return stdout;
}

/** Every record on the world's dead-letter topic, decoded. */
export async function deadLetters(e: E2E): Promise<DeadLetter[]> {
  const kafka = createKafka(e.config.kafka);
  const topic = e.config.kafka.topics.dlq;
  const last = new Map<number, bigint>();
  for (const o of await topicOffsets(kafka, topic))
    if (BigInt(o.high) > BigInt(o.low)) last.set(o.partition, BigInt(o.high) - 1n);
  if (last.size === 0) return [];
  const serde = createSerde(createRegistry(e.config.registry.url), e.config.kafka.topics);
  const out: DeadLetter[] = [];
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const consumer = createConsumer<DeadLetter>(kafka, serde, {
    groupId: `e2e-dlq-reader-${randomUUID()}`,
    topics: [topic],
    fromBeginning: true,
    async eachMessage(r) {
      if (r.value) out.push(r.value);
      const end = last.get(r.partition);
      if (end !== undefined && BigInt(r.offset) >= end) last.delete(r.partition);
      if (last.size === 0) finish();
    },
  });
  await consumer.start();
  const timer = setTimeout(finish, 30_000);
  await finished;
  clearTimeout(timer);
  await consumer.stop();
  if (last.size > 0)
    throw new Error(`reading ${topic}: partitions ${[...last.keys()].join(', ')} not read to the end`);
  return out;
}

/** Records on the changes topic (sum over partitions of high − low). */
export async function changesCount(e: E2E): Promise<number> {
  const offsets = await topicOffsets(createKafka(e.config.kafka), e.config.kafka.topics.changes);
  return offsets.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0);
}

/** True once the reconciler's group has committed every record of the changes topic. */
export async function reconcilerCaughtUp(e: E2E): Promise<boolean> {
  const kafka = createKafka(e.config.kafka);
  const topic = e.config.kafka.topics.changes;
  const high = await topicOffsets(kafka, topic);
  const committed = new Map(
    (await groupOffsets(kafka, `${e.config.kafka.clientId}-reconciler`, topic)).map((c) => [
      c.partition,
      c.offset,
    ]),
  );
  return high.every((o) => o.high === o.low || committed.get(o.partition) === o.high);
}

/** The value of one Prometheus sample of the reconciler's /metrics (0 when absent). */
export async function reconcilerMetric(
  e: E2E,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const text = await (await fetch(`http://${e.config.http.host}:${e.config.reconciler.port}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelPart = line.slice(name.length + 1, line.indexOf('}'));
    if (want.every((w) => labelPart.split(',').includes(w)))
      return Number(line.slice(line.indexOf('}') + 1).trim());
  }
  return 0;
}
