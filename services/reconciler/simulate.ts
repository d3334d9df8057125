/**
 * What a configuration would have commanded over real history (`lockstep replay --dry-run`): the
 * retained changes run through the reconciler's own processChange/processOutcome and decide(), over
 * an in-memory store (memory-store.ts) — no Postgres, no Kafka, no platform.
 *
 * What a simulation cannot know, and how it stands in for it:
 *  - Egress is not run. Each command is taken as applied exactly as commanded, at once: its outcome
 *    is made up (status applied, `written` = the command's fields). A create's new record gets the
 *    id the real history's outcome gave it (command ids are deterministic, so a create both
 *    configurations send has one id), or `simulated:<commandId>` when the real pipeline never made
 *    that create; later real changes of such a record do not exist, so none reach it.
 *  - Lockstep's own writes coming back (changes whose actor is Lockstep) are the real
 *    configuration's writes, not the simulated one's: they are left out of both runs, and the
 *    made-up outcome stands for them. A poll that brings our write back (actor unknown) is not
 *    recognisable so and is decided like any change.
 *  - Order: by the records' Kafka time (when ingest published them), then partition and offset;
 *    the real reconciler read partitions side by side, and outcomes whenever egress sent them.
 */
import type { ChangeEvent, WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import { createMemoryStore, type MemoryStore } from './memory-store.ts';
import { processChange, processOutcome, type ProcessDeps, type Processed } from './process.ts';

export interface HistoryChange {
  partition: number;
  offset: string;
  /** The record's Kafka timestamp (ms). */
  timestampMs: number;
  event: ChangeEvent;
}

/** Where in history a command came from: the change record that led to it. */
export interface HistoryRef {
  partition: number;
  offset: string;
  timestampMs: number;
  eventId: string;
  platform: string;
  entityKey: string | null;
}

export interface SimulatedCommand {
  command: WriteCommand;
  at: HistoryRef;
}

export interface SimulationResult {
  commands: SimulatedCommand[];
  /** Changes decided. */
  decided: number;
  /** Changes left out because Lockstep made them (see above). */
  ownWrites: number;
  /** Inputs whose decision failed: the reconciler would have dead-lettered them. */
  deadLettered: { at: HistoryRef; error: string }[];
  /** Creates whose record the real history never named (the made-up id). */
  simulatedCreates: number;
  /** Conflicts published. */
  conflicts: number;
  store: MemoryStore;
}

/** Guard against a decision loop (an outcome commanding again and again): far above any real chain. */
const MAX_CHAIN = 1000;

/** Real outcomes by command id (also by the ids folded into them), for the ids their creates got. */
export function outcomesByCommand(outcomes: Iterable<WriteOutcome>): Map<string, WriteOutcome> {
  const out = new Map<string, WriteOutcome>();
  for (const o of outcomes) {
    for (const id of [o.commandId, ...o.coalesced]) {
      const had = out.get(id);
      // A create retried may have a failed outcome and then an applied one: keep the one naming the record.
      if (!had || (had.targetId === null && o.targetId !== null)) out.set(id, o);
    }
  }
  return out;
}

/** The outcome of `cmd` applied exactly as commanded (see the module comment). */
export function appliedOutcome(
  cmd: WriteCommand,
  real: ReadonlyMap<string, WriteOutcome>,
  nowMs: number,
): { outcome: WriteOutcome; simulatedCreate: boolean } {
  const r = real.get(cmd.commandId);
  const create = cmd.action === 'create';
  const targetId = create ? (r?.targetId ?? null) : cmd.targetId;
  return {
    simulatedCreate: create && targetId === null,
    outcome: {
      commandId: cmd.commandId,
      linkId: cmd.linkId,
      flowId: cmd.flowId,
      platform: cmd.platform,
      workspace: cmd.workspace,
      entityType: cmd.entityType,
      action: cmd.action,
      status: 'applied',
      targetId: targetId ?? `simulated:${cmd.commandId}`,
      targetKey: r?.targetKey ?? null,
      written: cmd.action === 'delete' ? null : cmd.fields,
      platformVersion: null,
      // Without a platform time the write is ordered just after what was last seen there (decide.ts).
      platformTsMs: null,
      error: null,
      coalesced: [],
      tsMs: nowMs,
    },
  };
}

export async function simulate(
  changes: readonly HistoryChange[],
  realOutcomes: ReadonlyMap<string, WriteOutcome>,
  deps: Omit<ProcessDeps, 'now'>,
): Promise<SimulationResult> {
  const store = createMemoryStore();
  const res: SimulationResult = {
    commands: [],
    decided: 0,
    ownWrites: 0,
    deadLettered: [],
    simulatedCreates: 0,
    conflicts: 0,
    store,
  };
  const ordered = [...changes].sort(
    (a, b) =>
      a.timestampMs - b.timestampMs ||
      a.partition - b.partition ||
      (BigInt(a.offset) < BigInt(b.offset) ? -1 : BigInt(a.offset) > BigInt(b.offset) ? 1 : 0),
  );
  for (const rec of ordered) {
    const ev = rec.event;
    const at: HistoryRef = {
      partition: rec.partition,
      offset: rec.offset,
      timestampMs: rec.timestampMs,
      eventId: ev.eventId,
      platform: ev.source.platform,
      entityKey: ev.source.entityKey,
    };
    if (ev.source.actorIsLockstep) {
      res.ownWrites++;
      continue;
    }
    const d: ProcessDeps = { ...deps, now: () => rec.timestampMs };
    let queue: WriteCommand[];
    try {
      const p = await store.transaction((tx) => processChange(tx, d, ev));
      queue = take(res, p, at);
      res.decided++;
    } catch (err) {
      res.deadLettered.push({ at, error: String(err) });
      continue;
    }
    for (let n = 0; queue.length > 0; n++) {
      if (n >= MAX_CHAIN) {
        res.deadLettered.push({ at, error: `more than ${MAX_CHAIN} commands followed one change; stopped` });
        break;
      }
      const cmd = queue.shift()!;
      const { outcome, simulatedCreate } = appliedOutcome(cmd, realOutcomes, rec.timestampMs);
      if (simulatedCreate) res.simulatedCreates++;
      try {
        const p = await store.transaction((tx) => processOutcome(tx, d, outcome));
        queue.push(...take(res, p, at));
      } catch (err) {
        res.deadLettered.push({ at, error: `outcome of ${cmd.commandId}: ${String(err)}` });
      }
    }
  }
  return res;
}

function take(res: SimulationResult, p: Processed, at: HistoryRef): WriteCommand[] {
  res.conflicts += p.conflicts;
  for (const command of p.commands) res.commands.push({ command, at });
  return [...p.commands];
}

/** One field of one command: the unit the two runs are compared in. */
export interface FieldWrite {
  flowId: string;
  linkId: string;
  platform: string;
  entityType: string;
  action: string;
  /** The target record (null for a create). */
  targetId: string | null;
  field: string;
  value: unknown;
  at: HistoryRef;
}

export function fieldWrites(commands: readonly SimulatedCommand[]): FieldWrite[] {
  const out: FieldWrite[] = [];
  for (const { command: c, at } of commands) {
    const base = {
      flowId: c.flowId,
      linkId: c.linkId,
      platform: c.platform,
      entityType: c.entityType,
      action: c.action,
      targetId: c.targetId,
      at,
    };
    if (c.action === 'delete') {
      out.push({ ...base, field: '(record)', value: null });
      continue;
    }
    const values = new Map<string, unknown>(Object.entries(c.fields));
    for (const field of c.fields.known) out.push({ ...base, field, value: values.get(field) ?? null });
  }
  return out;
}

/** One difference: what the new configuration sends for a field where the current one sends another value, or nothing. */
export interface WriteDifference {
  flowId: string;
  linkId: string;
  platform: string;
  entityType: string;
  action: string;
  targetId: string | null;
  field: string;
  /** Absent: the current configuration sends no write here. */
  current?: unknown;
  /** Absent: the new configuration sends no write here. */
  next?: unknown;
  at: HistoryRef;
}

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v ?? null);
}

/**
 * The writes the two runs disagree on, as multisets of field writes: a write both send (same
 * link, platform, action, target, field, value and cause) is not a difference; per (link,
 * platform, field, cause), a value only one run sends is paired with a value only the other sends.
 */
export function diffWrites(current: readonly FieldWrite[], next: readonly FieldWrite[]): WriteDifference[] {
  const slot = (w: FieldWrite) =>
    stableJson([w.linkId, w.platform, w.action, w.targetId, w.field, w.at.eventId]);
  const groups = new Map<string, { cur: FieldWrite[]; nxt: FieldWrite[] }>();
  const group = (k: string) => {
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { cur: [], nxt: [] }));
    return g;
  };
  for (const w of current) group(slot(w)).cur.push(w);
  for (const w of next) group(slot(w)).nxt.push(w);
  const out: WriteDifference[] = [];
  for (const { cur, nxt } of groups.values()) {
    const left = [...cur];
    const right: FieldWrite[] = [];
    for (const w of nxt) {
      const i = left.findIndex((c) => stableJson(c.value) === stableJson(w.value));
      if (i >= 0) left.splice(i, 1);
      else right.push(w);
    }
    for (let i = 0; i < Math.max(left.length, right.length); i++) {
      const c = left[i];
      const n = right[i];
      const w = (n ?? c)!;
      out.push({
        flowId: w.flowId,
        linkId: w.linkId,
        platform: w.platform,
        entityType: w.entityType,
        action: w.action,
        targetId: w.targetId,
        field: w.field,
        ...(c && { current: c.value }),
        ...(n && { next: n.value }),
        at: w.at,
      });
    }
  }
  return out.sort(
    (a, b) =>
      a.at.timestampMs - b.at.timestampMs ||
      a.linkId.localeCompare(b.linkId) ||
      a.platform.localeCompare(b.platform) ||
      a.field.localeCompare(b.field),
  );
}
