/**
 * The cheapest write is the one not made: consecutive pending updates of one target fold into one
 * call. Later values win field by field. A command's base is what the target holds when egress
 * gets to it: the reconciler computes it as the value of its previous write to that target still
 * in flight (egress applies one target's commands in order), or — when it saw a person's edit on
 * the target after those writes were sent, and settled a conflict against it — that edit. So for
 * each field the folded base is the first command's base while the later commands continue its
 * chain (their base is the earlier command's value: the whole group lands on what the first one
 * expected), and the later base where the chain breaks (it knows the target holds something else;
 * an older base there would wrongly skip the very write that settles the conflict). Egress compares
 * the base with the target's current values and skips a field that moved away from it. Creates,
 * deletes and commands for other targets are never folded.
 */
import type { EntityState, WriteCommand } from '../../schemas/generated/types.ts';
import { sameFieldValue } from '../connectors/types.ts';

export interface Pending<M> {
  cmd: WriteCommand;
  meta: M;
}

export interface Coalesced<M> {
  cmd: WriteCommand;
  /**
   * Every command folded in, in order, and any redelivered copy of one of them (their ids are
   * those of `ids()`; the newest distinct one is `cmd.commandId`).
   */
  parts: Pending<M>[];
}

const targetOf = (c: WriteCommand): string | null =>
  c.action === 'update' && c.targetId !== null ? `${c.entityType}:${c.targetId}` : null;

export function coalesce<M>(batch: Pending<M>[]): Coalesced<M>[] {
  const out: Coalesced<M>[] = [];
  for (const p of batch) {
    const prev = out.at(-1);
    const t = targetOf(p.cmd);
    // The same command again (the outbox relay resends a row whose send it could not mark, e.g.
    // when its Postgres connection dropped): a part of the group, so its offset is committed, but
    // nothing to fold. Folded twice, its id was recorded twice in one statement, which Postgres
    // refuses for good (ON CONFLICT DO UPDATE cannot affect a row twice) and the partition stalled.
    if (prev?.parts.some((q) => q.cmd.commandId === p.cmd.commandId)) {
      prev.parts.push(p);
    } else if (prev && t !== null && targetOf(prev.cmd) === t && prev.cmd.linkId === p.cmd.linkId) {
      prev.cmd = merge(prev.cmd, p.cmd);
      prev.parts.push(p);
    } else {
      out.push({ cmd: p.cmd, parts: [p] });
    }
  }
  return out;
}

function merge(a: WriteCommand, b: WriteCommand): WriteCommand {
  return {
    ...b,
    fields: mergeState(a.fields, b.fields),
    base: a.base && b.base ? mergeBase(a, a.base, b.base) : (a.base ?? b.base),
    // What the reconciler could not carry goes with the value that won the field.
    unresolved: [...a.unresolved.filter((u) => !b.fields.known.includes(u.field)), ...b.unresolved],
  };
}

/** Per field: `a`'s base while `b` continues from `a`'s value, else `b`'s (see the top of the file). */
function mergeBase(a: WriteCommand, aBase: EntityState, bBase: EntityState): EntityState {
  const chained = bBase.known.filter(
    (f) => aBase.known.includes(f) && a.fields.known.includes(f) && sameFieldValue(f, bBase, a.fields),
  );
  const fromB = bBase.known.filter((f) => !chained.includes(f));
  const over = { ...bBase, known: fromB } as EntityState;
  return mergeState(aBase, over);
}

/** Fields of `over` win; `known` is the union. */
function mergeState(under: EntityState, over: EntityState): EntityState {
  const fromOver = Object.fromEntries(over.known.map((f) => [f, over[f as keyof EntityState]]));
  return { ...under, ...fromOver, known: [...new Set([...under.known, ...over.known])] } as EntityState;
}

/** The distinct commands of a group, in order (a redelivered command appears once). */
export function distinctCommands<M>(parts: Pending<M>[]): WriteCommand[] {
  const byId = new Map<string, WriteCommand>();
  for (const p of parts) if (!byId.has(p.cmd.commandId)) byId.set(p.cmd.commandId, p.cmd);
  return [...byId.values()];
}

/** The distinct command ids of a group, in order. */
export function commandIds<M>(parts: Pending<M>[]): string[] {
  return distinctCommands(parts).map((c) => c.commandId);
}
