/**
 * `lockstep replay`: the reconciler reads lockstep.changes.v1 again.
 *
 *  - `--from-beginning` / `--from <time>` move the reconciler's consumer group offsets on the
 *    changes topic (outcomes are left where they are) to the earliest retained record, or to the
 *    first record at or after the time (Kafka's offsets-for-times). eventId dedupe and base
 *    comparison make the replayed events change nothing that was already applied. Kafka only
 *    moves the offsets of a group without members, so stop the reconciler first and start it again
 *    afterwards.
 *  - `--dry-run --config <new.yaml>` moves nothing: it reads the retained history up to what the
 *    reconciler has decided (its committed offsets), runs it through the reconciler's decision
 *    logic over an in-memory state twice — with the running configuration and with the new one —
 *    and prints the writes the new one would send differently (reconciler/simulate.ts says what a
 *    simulation cannot know).
 *
 * `--flow` is for the dry run only. Offsets belong to the consumer group, which decides every
 * flow, and a changes record is keyed by entity, not by flow: a real replay restricted to one flow
 * would have to be a filter inside the reconciler, which does not exist. Replaying every flow is
 * safe (what was applied changes nothing), so a real replay refuses `--flow` rather than pretend.
 */
import { canonicalLabelOn } from '../../connectors/registry.ts';
import type { Command } from 'commander';
import { loadAppConfig, peopleDirectory, type AppConfig } from '../../app/config.ts';
import { cliLogger } from '../logger.ts';
import {
  createKafka,
  createRegistry,
  createSerde,
  groupOffsets,
  isUndecodable,
  offsetsForTime,
  readTopicUntil,
  resetGroupOffsets,
  topicOffsets,
  type KafkaHandle,
} from '../../core/kafka/index.ts';
import { parseSince } from '../../egress/audit.ts';
import { deterministicId } from '../../reconciler/ids.ts';
import {
  diffWrites,
  fieldWrites,
  outcomesByCommand,
  simulate,
  type HistoryChange,
  type SimulationResult,
  type WriteDifference,
} from '../../reconciler/simulate.ts';
import type { ChangeEvent, WriteOutcome } from '../../../schemas/generated/types.ts';

export interface ReplayOpts {
  config?: string;
  current?: string;
  fromBeginning?: boolean;
  from?: string;
  flow?: string;
  dryRun?: boolean;
  json?: boolean;
  wait: number;
}

export type ReplayPlan =
  | { kind: 'move'; fromMs: number | null; config?: string }
  | { kind: 'dry-run'; fromMs: number | null; flow: string | null; next: string; current?: string };

/** What the options ask for; throws one clear message for a bad combination. */
export function replayPlan(opts: ReplayOpts, nowMs: number): ReplayPlan {
  if (opts.from !== undefined && opts.fromBeginning)
    throw new Error('replay: give one starting point: --from <time> or --from-beginning, not both');
  let fromMs: number | null = null;
  if (opts.from !== undefined) {
    fromMs = parseSince(opts.from, nowMs, '--from');
    if (fromMs > nowMs)
      throw new Error(`replay: --from ${opts.from} is in the future (${new Date(fromMs).toISOString()})`);
  }
  if (opts.dryRun) {
    if (opts.config === undefined)
      throw new Error(
        'replay --dry-run: give the configuration to try: --config <new.yaml> (the running one is --current, default $LOCKSTEP_CONFIG or ./lockstep.yaml)',
      );
    return { kind: 'dry-run', fromMs, flow: opts.flow ?? null, next: opts.config, current: opts.current };
  }
  if (opts.flow !== undefined)
    throw new Error(
      "replay: --flow works with --dry-run only. A replay moves the reconciler's consumer group offsets, and the group decides every flow from one changes topic keyed by entity: it cannot be moved for one flow. Replay without --flow (records already applied change nothing), or use --dry-run --flow to see one flow's writes",
    );
  if (opts.current !== undefined) throw new Error('replay: --current is for --dry-run only');
  if (fromMs === null && !opts.fromBeginning)
    throw new Error('replay: give the starting point: --from <time> or --from-beginning (or --dry-run)');
  return { kind: 'move', fromMs, config: opts.config };
}

/** Progress on stderr for long reads, at most once a second. */
function progress(label: string, total: number) {
  let n = 0;
  let last = 0;
  return {
    tick() {
      n++;
      const now = Date.now();
      if (now - last >= 1000) {
        last = now;
        process.stderr.write(`reading ${label}: ${n}/${total} records\n`);
      }
    },
    end() {
      if (total > 0) process.stderr.write(`read ${label}: ${n} records\n`);
    },
  };
}

/** The timestamp of the oldest retained record of a topic (null: the topic is empty). */
async function earliestRetained(kafka: KafkaHandle, topic: string): Promise<number | null> {
  const ends = new Map<number, bigint>();
  for (const o of await topicOffsets(kafka, topic))
    if (BigInt(o.high) > BigInt(o.low)) ends.set(o.partition, BigInt(o.low) + 1n);
  let min: number | null = null;
  await readTopicUntil(kafka, topic, ends, (r) => {
    if (min === null || r.timestampMs < min) min = r.timestampMs;
  });
  return min;
}

/** Refuses a time before the retained history: the records in between are gone, and a replay from there would skip them silently. */
async function checkRetained(kafka: KafkaHandle, topic: string, fromMs: number): Promise<void> {
  const earliest = await earliestRetained(kafka, topic);
  if (earliest !== null && fromMs < earliest)
    throw new Error(
      `replay: --from ${new Date(fromMs).toISOString()} is before the retained history of ${topic}: its earliest retained record is from ${new Date(earliest).toISOString()} (use --from-beginning to start there)`,
    );
}

async function move(plan: Extract<ReplayPlan, { kind: 'move' }>, opts: ReplayOpts): Promise<void> {
  const config = loadAppConfig(plan.config);
  const kafka = createKafka(config.kafka, cliLogger(config));
  const groupId = `${config.kafka.clientId}-reconciler`;
  const topic = config.kafka.topics.changes;
  let offsets: Map<number, string> | undefined;
  if (plan.fromMs !== null) {
    await checkRetained(kafka, topic, plan.fromMs);
    offsets = new Map((await offsetsForTime(kafka, topic, plan.fromMs)).map((o) => [o.partition, o.offset]));
  }
  const resets = await resetGroupOffsets(kafka, { groupId, topic, waitEmptyMs: opts.wait * 1000, offsets });
  const high = new Map((await topicOffsets(kafka, topic)).map((o) => [o.partition, BigInt(o.high)]));
  let total = 0n;
  const partitions = resets.map((r) => {
    const n = (high.get(r.partition) ?? 0n) - BigInt(r.to);
    total += n;
    return { partition: r.partition, from: r.from, to: r.to, records: Number(n) };
  });
  if (opts.json) {
    console.log(
      JSON.stringify({
        groupId,
        topic,
        from: plan.fromMs === null ? 'beginning' : new Date(plan.fromMs).toISOString(),
        partitions,
        records: Number(total),
      }),
    );
    return;
  }
  for (const p of partitions)
    console.log(
      `${topic} partition ${p.partition}: ${p.from ?? 'nothing committed'} → ${p.to} (${p.records} records to replay)`,
    );
  console.log(
    `consumer group ${groupId} will replay ${total} records of ${topic} when the reconciler starts`,
  );
}

function simDeps(config: AppConfig) {
  return {
    flows: config.flows,
    topics: config.kafka.topics,
    ids: deterministicId,
    canonicalLabel: canonicalLabelOn,
    people: peopleDirectory(config),
  };
}

/** The item a difference is about, as people know it: the keys its link has on each side. */
function itemLabel(d: WriteDifference, sims: SimulationResult[]): string {
  for (const s of sims) {
    const link = s.store.linkState(d.linkId);
    if (!link) continue;
    const side = link.sides.find((x) => x.platform === d.platform);
    const target =
      side?.entityKey ?? side?.entityId ?? d.targetId ?? `new ${d.entityType} (link ${d.linkId})`;
    const others = link.sides
      .filter((x) => x.platform !== d.platform && x.entityId !== null)
      .map((x) => `${x.platform} ${x.entityKey ?? x.entityId}`);
    return `${d.platform} ${target}${others.length ? ` (linked to ${others.join(', ')})` : ''}`;
  }
  return `${d.platform} ${d.targetId ?? `new ${d.entityType} (link ${d.linkId})`}`;
}

async function dryRun(plan: Extract<ReplayPlan, { kind: 'dry-run' }>, opts: ReplayOpts): Promise<void> {
  const current = loadAppConfig(plan.current);
  const next = loadAppConfig(plan.next);
  if (plan.flow !== null && ![...current.flows, ...next.flows].some((f) => f.id === plan.flow))
    throw new Error(
      `replay --dry-run: no flow ${plan.flow} in either configuration (flows: ${[...new Set([...current.flows, ...next.flows].map((f) => f.id))].join(', ') || 'none'})`,
    );
  // The history is the running pipeline's: its Kafka, registry and topics.
  const kafka = createKafka(current.kafka, cliLogger(current));
  const serde = createSerde(createRegistry(current.registry.url), current.kafka.topics);
  const topics = current.kafka.topics;
  const groupId = `${current.kafka.clientId}-reconciler`;
  if (plan.fromMs !== null) await checkRetained(kafka, topics.changes, plan.fromMs);

  // Up to what the reconciler has decided: its committed offsets (nothing committed: nothing decided).
  const committed = new Map<number, bigint>();
  for (const c of await groupOffsets(kafka, groupId, topics.changes))
    if (c.offset !== null) committed.set(c.partition, BigInt(c.offset));
  const low = new Map((await topicOffsets(kafka, topics.changes)).map((o) => [o.partition, BigInt(o.low)]));
  let toRead = 0;
  for (const [p, end] of committed) toRead += Math.max(0, Number(end - (low.get(p) ?? 0n)));
  const changes: HistoryChange[] = [];
  let undecodable = 0;
  const pc = progress(topics.changes, toRead);
  await readTopicUntil(kafka, topics.changes, committed, async (r) => {
    pc.tick();
    if (r.value === null) return;
    try {
      const event = (await serde.deserialize(topics.changes, r.value)) as ChangeEvent;
      changes.push({ partition: r.partition, offset: r.offset, timestampMs: r.timestampMs, event });
    } catch (err) {
      // The reconciler dead-letters an undecodable record; a registry outage is not that.
      if (!isUndecodable(err)) throw err;
      undecodable++;
    }
  });
  pc.end();
  // Every outcome there is: only the ids the real creates got are taken from them.
  const outEnds = new Map<number, bigint>();
  let outTotal = 0;
  for (const o of await topicOffsets(kafka, topics.outcomes)) {
    outEnds.set(o.partition, BigInt(o.high));
    outTotal += Number(BigInt(o.high) - BigInt(o.low));
  }
  const outcomes: WriteOutcome[] = [];
  const po = progress(topics.outcomes, outTotal);
  await readTopicUntil(kafka, topics.outcomes, outEnds, async (r) => {
    po.tick();
    if (r.value === null) return;
    try {
      outcomes.push((await serde.deserialize(topics.outcomes, r.value)) as WriteOutcome);
    } catch (err) {
      if (!isUndecodable(err)) throw err;
    }
  });
  po.end();

  const real = outcomesByCommand(outcomes);
  const curSim = await simulate(changes, real, simDeps(current));
  const nextSim = await simulate(changes, real, simDeps(next));
  const shown = (w: { flowId: string; at: { timestampMs: number } }) =>
    (plan.flow === null || w.flowId === plan.flow) &&
    (plan.fromMs === null || w.at.timestampMs >= plan.fromMs);
  const curWrites = fieldWrites(curSim.commands).filter(shown);
  const nextWrites = fieldWrites(nextSim.commands).filter(shown);
  const differences = diffWrites(curWrites, nextWrites);
  const summary = (file: string | undefined, s: SimulationResult) => ({
    config: file ?? '(default: $LOCKSTEP_CONFIG or ./lockstep.yaml)',
    commands: s.commands.filter((c) => shown({ flowId: c.command.flowId, at: c.at })).length,
    writes: fieldWrites(s.commands).filter(shown).length,
    conflicts: s.conflicts,
    deadLettered: s.deadLettered.length,
    simulatedCreates: s.simulatedCreates,
  });
  const times = changes.map((c) => c.timestampMs);
  const report = {
    dryRun: true,
    read: {
      changes: changes.length,
      undecodable,
      outcomes: outcomes.length,
      ownWrites: curSim.ownWrites,
      first: times.length ? new Date(Math.min(...times)).toISOString() : null,
      last: times.length ? new Date(Math.max(...times)).toISOString() : null,
    },
    shown: {
      from: plan.fromMs === null ? null : new Date(plan.fromMs).toISOString(),
      flow: plan.flow,
    },
    current: summary(plan.current, curSim),
    next: summary(plan.next, nextSim),
    differences: differences.map((d) => ({ ...d, item: itemLabel(d, [curSim, nextSim]) })),
    deadLettered: { current: curSim.deadLettered, next: nextSim.deadLettered },
  };
  if (opts.json) {
    console.log(JSON.stringify(report));
    return;
  }
  const r = report.read;
  console.log(
    `dry run, nothing written: ${r.changes} change records (${r.first ?? '-'} … ${r.last ?? '-'}) up to the reconciler's committed offsets, ${r.outcomes} outcomes; ${r.ownWrites} changes made by Lockstep itself left out (its writes are simulated as applied)`,
  );
  if (r.undecodable > 0) console.log(`${r.undecodable} undecodable change records skipped`);
  const filter = [
    plan.flow !== null ? `flow ${plan.flow}` : null,
    plan.fromMs !== null ? `caused by records from ${report.shown.from}` : null,
  ].filter(Boolean);
  for (const [name, s] of [
    ['current', report.current],
    ['new', report.next],
  ] as const)
    console.log(
      `${name} (${s.config}): ${s.commands} commands, ${s.writes} field writes${filter.length ? ` (${filter.join(', ')})` : ''}, ${s.conflicts} conflicts, ${s.deadLettered} inputs that would be dead-lettered`,
    );
  if (report.differences.length === 0) {
    console.log('no differences: the new configuration sends the same writes');
  } else {
    const n = report.differences.length;
    console.log(`${n} difference${n === 1 ? '' : 's'}:`);
    for (const d of report.differences) {
      const cur = 'current' in d ? JSON.stringify(d.current) : '(no write)';
      const nxt = 'next' in d ? JSON.stringify(d.next) : '(no write)';
      console.log(
        `  ${d.item} ${d.action} ${d.field}: current ${cur} → new ${nxt}  (after ${d.at.platform} ${d.at.entityKey ?? ''} change at ${new Date(d.at.timestampMs).toISOString()}, event ${d.at.eventId})`,
      );
    }
  }
  for (const [name, list] of [
    ['current', curSim.deadLettered],
    ['new', nextSim.deadLettered],
  ] as const)
    for (const x of list) console.log(`  ${name}: would dead-letter event ${x.at.eventId}: ${x.error}`);
}

export function register(program: Command): void {
  program
    .command('replay')
    .description(
      "re-read the changes topic (moves the reconciler's consumer group; stop the reconciler first), or --dry-run a new configuration over the retained history",
    )
    .option('-c, --config <file>', 'lockstep.yaml; with --dry-run, the NEW configuration to try')
    .option(
      '--current <file>',
      'with --dry-run: the running configuration to compare with (default: $LOCKSTEP_CONFIG or ./lockstep.yaml)',
    )
    .option('--from-beginning', 'start from the earliest retained record of the changes topic')
    .option(
      '--from <time>',
      'start at the first record at or after a time: a duration ago (30m, 2h, 7d) or a date/time',
    )
    .option('--flow <id>', 'with --dry-run: show one flow only')
    .option(
      '--dry-run',
      'move nothing: show the writes --config would send differently over the retained history',
    )
    .option('--json', 'one JSON object on stdout')
    .option(
      '--wait <seconds>',
      'wait this long for the reconciler group to have no members (a killed reconciler leaves when its session times out)',
      (v) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0) throw new Error(`--wait must be a number of seconds ≥ 0, got ${v}`);
        return n;
      },
      0,
    )
    .action(async (opts: ReplayOpts) => {
      const plan = replayPlan(opts, Date.now());
      if (plan.kind === 'dry-run') await dryRun(plan, opts);
      else await move(plan, opts);
    });
}
