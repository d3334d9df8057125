/**
 * The cheapest write is the one not made: consecutive pending updates of one target fold into one
 * call. Later values win field by field, and so do later bases: a command's base is what the
 * reconciler had last seen on the target when it computed that command, so the latest command
 * carrying a field knows best what the target holds (it may have seen a person's edit made after
 * the earlier command was computed — a conflict settled against that edit). Egress compares the
 * base with the target's current values and skips a field that moved away from it; an older base
 * there would wrongly skip the very write that settles the conflict. Fields only an earlier
 * command carries keep that command's base. Creates, deletes and commands for other targets are
 * never folded.
 */
import type { EntityState, WriteCommand } from '../../schemas/generated/types.ts';

export interface Pending<M> {
  cmd: WriteCommand;
  meta: M;
}

export interface Coalesced<M> {
  cmd: WriteCommand;
  /** Every command folded in, in order (the last one's id is `cmd.commandId`). */
  parts: Pending<M>[];
}

const targetOf = (c: WriteCommand): string | null =>
  c.action === 'update' && c.targetId !== null ? `${c.entityType}:${c.targetId}` : null;

export function coalesce<M>(batch: Pending<M>[]): Coalesced<M>[] {
  const out: Coalesced<M>[] = [];
  for (const p of batch) {
    const prev = out.at(-1);
    const t = targetOf(p.cmd);
    if (prev && t !== null && targetOf(prev.cmd) === t && prev.cmd.linkId === p.cmd.linkId) {
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
    base: a.base && b.base ? mergeState(a.base, b.base) : (a.base ?? b.base),
  };
}

/** Fields of `over` win; `known` is the union. */
function mergeState(under: EntityState, over: EntityState): EntityState {
  const fromOver = Object.fromEntries(over.known.map((f) => [f, over[f as keyof EntityState]]));
  return { ...under, ...fromOver, known: [...new Set([...under.known, ...over.known])] } as EntityState;
}
