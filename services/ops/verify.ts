/**
 * `lockstep verify`: each linked record as its platform holds it now, compared field by field with
 * the link's base (reconciler/state.ts), the value all sides last agreed on. Everything here is
 * pure: the CLI (services/cli/commands/verify.ts) loads the links, reads the records through the
 * connectors' readers and publishes the repair events; this module says what differs and builds
 * the events that hand the difference to the reconciler. No platform is named here.
 *
 * A field that differs from the base on a side is drift when Lockstep has no write to that side in
 * flight (the write, when it lands, is what puts the side in step) and no conflict holds the field
 * (a manual conflict waits for a person on purpose). Values are compared in flow terms, through the
 * reconciler's own translation (`observed`), so a status name or a label spelling a platform has
 * its own way of writing is not drift.
 *
 * Repair goes through the normal pipeline: the read of each side that moved is published on the
 * changes topic as the event a poll would have made of it, so the reconciler decides by the
 * field's policy (two sides that moved the same field apart are a conflict, settled as any other)
 * and egress writes, with its audit records. A record that no longer exists becomes a delete event,
 * which the flow's `onDelete` settles (unlink by default). Repair events are marked: `via` is
 * `backfill` (a full read outside the live path), `deliveryId` is `lockstep-verify:<run id>`, and
 * the event id is derived from the read's own, so a second repair of the same read is a duplicate
 * the reconciler drops.
 */
import { createHash } from 'node:crypto';
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import type { ReadResult } from '../connectors/types.ts';
import type { PeopleDirectory } from '../core/people/index.ts';
import { observed } from '../reconciler/decide.ts';
import type { Flow, SyncedField } from '../reconciler/flow.ts';
import type { LinkSide, LinkState } from '../reconciler/state.ts';
import { equal, fieldsFor, type CanonicalLabel, type FieldValue } from '../reconciler/values.ts';

export const VERIFY_DELIVERY_PREFIX = 'lockstep-verify:';

export interface CompareContext {
  canonicalLabel?: CanonicalLabel;
  people?: PeopleDirectory;
}

export interface SideValue {
  platform: string;
  entityId: string;
  entityKey: string | null;
  value: FieldValue;
  /** True when this side holds something other than the base. */
  moved: boolean;
}

export interface Drift {
  linkId: string;
  flowId: string;
  kind: LinkState['kind'];
  field: SyncedField;
  base: FieldValue;
  /** Every side that holds the field, with its value. */
  sides: SideValue[];
  /** The platforms that moved away from the base. */
  moved: string[];
}

export interface Missing {
  linkId: string;
  flowId: string;
  kind: LinkState['kind'];
  platform: string;
  entityId: string;
  entityKey: string | null;
  detail: string;
}

/**
 * A difference that is not drift: a write in flight to the side (`in_flight`), a field an open
 * conflict holds (`held`), or a value the reconciler already saw on that side and left there
 * (`known`: the platform cannot hold the base, or our write to it was refused or dead-lettered;
 * `lockstep audit` and `lockstep dlq list` say which).
 */
export interface Waiting {
  linkId: string;
  field: SyncedField;
  platform: string;
  reason: 'in_flight' | 'held' | 'known';
}

export interface LinkFindings {
  drift: Drift[];
  missing: Missing[];
  waiting: Waiting[];
}

/** One read per side that has a record (`reads.get(platform)`); a side not in `reads` was not read. */
export function compareLink(
  link: LinkState,
  flow: Flow,
  reads: ReadonlyMap<string, ReadResult>,
  ctx: CompareContext = {},
): LinkFindings {
  const out: LinkFindings = { drift: [], missing: [], waiting: [] };
  const present: { side: LinkSide & { entityId: string }; event: ChangeEvent }[] = [];
  for (const side of link.sides) {
    if (side.entityId === null) continue;
    const r = reads.get(side.platform);
    if (!r) continue;
    if (!r.found) {
      out.missing.push({
        linkId: link.linkId,
        flowId: link.flowId,
        kind: link.kind,
        platform: side.platform,
        entityId: side.entityId,
        entityKey: side.entityKey,
        detail: r.detail,
      });
      continue;
    }
    present.push({ side: { ...side, entityId: side.entityId }, event: r.event });
  }
  for (const field of fieldsFor(link.kind)) {
    const fs = link.fields[field];
    if (!fs) continue;
    const sides: SideValue[] = [];
    for (const { side, event } of present) {
      if (!event.after) continue;
      const t = observed(ctx, flow, side.platform, field, event.after, fs);
      if (t === undefined) continue;
      const moved = !equal(t.value, fs.base);
      if (moved && fs.held) {
        out.waiting.push({ linkId: link.linkId, field, platform: side.platform, reason: 'held' });
        continue;
      }
      const sf = fs.sides[side.platform];
      if (moved && (sf?.pending.length ?? 0) > 0) {
        out.waiting.push({ linkId: link.linkId, field, platform: side.platform, reason: 'in_flight' });
        continue;
      }
      if (moved && sf?.seen !== undefined && equal(t.value, sf.seen)) {
        // The reconciler saw this very value on this side and left it (a value the platform cannot
        // hold, such as a status its workflow lacks; a write that was refused or dead-lettered): a
        // repair event would be nothing new to it, so it is reported, not drift.
        out.waiting.push({ linkId: link.linkId, field, platform: side.platform, reason: 'known' });
        continue;
      }
      sides.push({
        platform: side.platform,
        entityId: side.entityId,
        entityKey: side.entityKey ?? event.source.entityKey,
        value: t.value,
        moved,
      });
    }
    const moved = sides.filter((s) => s.moved).map((s) => s.platform);
    if (moved.length > 0)
      out.drift.push({
        linkId: link.linkId,
        flowId: link.flowId,
        kind: link.kind,
        field,
        base: fs.base,
        sides,
        moved,
      });
  }
  return out;
}

const hash = (...parts: string[]) =>
  createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);

/** The read of a side that moved, as the change event that hands it to the reconciler. */
export function repairEvent(read: ChangeEvent, runId: string): ChangeEvent {
  return {
    ...read,
    eventId: hash('lockstep-verify', read.eventId),
    source: { ...read.source, via: 'backfill', deliveryId: `${VERIFY_DELIVERY_PREFIX}${runId}` },
  };
}

/**
 * A record that no longer exists, as a delete event: the flow's `onDelete` decides what follows.
 * Its time is when verify found it gone (the platform no longer says when it went).
 */
export function deleteEvent(
  link: LinkState,
  side: LinkSide & { entityId: string },
  parentId: string | null,
  runId: string,
  nowMs: number,
): ChangeEvent {
  return {
    eventId: hash('lockstep-verify-deleted', link.linkId, side.platform, side.entityType, side.entityId),
    op: 'd',
    before: null,
    after: null,
    source: {
      platform: side.platform,
      workspace: side.workspace,
      entityType: side.entityType,
      entityId: side.entityId,
      entityKey: side.entityKey,
      parentId,
      via: 'backfill',
      deliveryId: `${VERIFY_DELIVERY_PREFIX}${runId}`,
      actor: null,
      actorIsLockstep: false,
      marker: null,
      version: null,
      tsMs: nowMs,
    },
    changedFields: [],
    tsMs: nowMs,
  };
}

export interface Unlinked {
  flowId: string;
  platform: string;
  workspace: string;
  entityId: string;
  entityKey: string | null;
  title: string | null;
}

export interface VerifyReport {
  flows: string[];
  links: { checked: number; pending: number; closed: number };
  drift: Drift[];
  missing: Missing[];
  waiting: Waiting[];
  /** Items of a flow's sides with no link; null when the scan was not asked for. */
  unlinked: Unlinked[] | null;
  /** Reads that failed (the run is incomplete for those links). */
  errors: { linkId: string | null; platform: string; message: string }[];
  repair: {
    published: number;
    events: { eventId: string; op: string; platform: string; entityId: string; linkId: string }[];
  } | null;
  durationMs: number;
}

/**
 * The exit code (README "lockstep verify"): 1 when the run could not read everything (the report
 * is incomplete), else 2 when it found drift, a missing record or an unlinked item, else 0.
 * `--repair` does not change it: the run found what it found; the repair's result shows in the
 * next run.
 */
export function exitCode(r: VerifyReport): number {
  if (r.errors.length > 0) return 1;
  if (r.drift.length > 0 || r.missing.length > 0 || (r.unlinked?.length ?? 0) > 0) return 2;
  return 0;
}

function show(v: FieldValue | undefined): string {
  if (v === undefined) return '—';
  if (v === null) return '(empty)';
  if (Array.isArray(v)) return v.length ? v.join(', ') : '(none)';
  if (typeof v === 'object') return v.name;
  const one = v.replace(/\s+/g, ' ');
  return one.length > 40 ? `${one.slice(0, 39)}…` : one;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}

/** The report for people. */
export function renderText(r: VerifyReport): string {
  const lines: string[] = [];
  const s = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  lines.push(
    `verified ${s(r.links.checked, 'link')} of flow ${r.flows.join(', ')} in ${(r.durationMs / 1000).toFixed(1)} s` +
      (r.links.pending ? `; ${r.links.pending} still being created, not checked` : ''),
  );
  if (r.drift.length) {
    const platforms = [...new Set(r.drift.flatMap((d) => d.sides.map((x) => x.platform)))].sort();
    lines.push('', `drift (${r.drift.length}):`);
    const rows = [['link', 'item', 'field', 'base', ...platforms, 'moved']];
    for (const d of r.drift) {
      const item = d.sides.map((x) => `${x.platform}:${x.entityKey ?? x.entityId}`).join(' ');
      rows.push([
        d.linkId.slice(0, 8),
        item,
        d.field,
        show(d.base),
        ...platforms.map((p) => show(d.sides.find((x) => x.platform === p)?.value)),
        d.moved.join(', '),
      ]);
    }
    lines.push(...table(rows).map((l) => `  ${l}`));
  }
  if (r.missing.length) {
    lines.push('', `linked records that no longer exist (${r.missing.length}):`);
    for (const m of r.missing)
      lines.push(`  link ${m.linkId.slice(0, 8)}  ${m.platform} ${m.entityKey ?? m.entityId}: ${m.detail}`);
  }
  if (r.unlinked?.length) {
    lines.push('', `items in a flow's scope with no link (${r.unlinked.length}):`);
    for (const u of r.unlinked)
      lines.push(
        `  ${u.flowId}  ${u.platform} ${u.entityKey ?? u.entityId}${u.title ? `  ${show(u.title)}` : ''}`,
      );
  }
  if (r.waiting.length) {
    const n = (reason: Waiting['reason']) => r.waiting.filter((w) => w.reason === reason).length;
    lines.push(
      '',
      `${s(r.waiting.length, 'difference')} not counted as drift: ${n('in_flight')} with a write in flight, ${n('held')} held by an open conflict, ${n('known')} already seen and left by the reconciler (see lockstep audit / dlq list)`,
    );
  }
  if (r.errors.length) {
    lines.push('', `reads that failed (${r.errors.length}); the report is incomplete:`);
    for (const e of r.errors)
      lines.push(`  ${e.platform}${e.linkId ? ` link ${e.linkId.slice(0, 8)}` : ''}: ${e.message}`);
  }
  if (r.repair)
    lines.push(
      '',
      `repair: published ${s(r.repair.published, 'change event')} for the reconciler (drift by each field's policy, deletes by onDelete)`,
    );
  if (!r.drift.length && !r.missing.length && !r.unlinked?.length && !r.errors.length)
    lines.push('everything is in step');
  return lines.join('\n');
}
