/**
 * The reconciler's decision, as a pure function: (link state, one change or outcome) → new state,
 * the commands to send, the conflicts to publish and notes on what was done and why.
 * No I/O and no clock: time comes from `ctx.nowMs`, ids from `ctx.ids`, so the same input always
 * gives the same output (a replayed event yields the same command ids; egress drops repeats).
 *
 * The rules (DESIGN.md "The reconciler's rules" and "The hard cases"), per link and field:
 *  - an observation older (platform time) than the last seen for that side+field is stale: ignored;
 *  - a value equal to what that side last showed, or to the base, is nothing new (echo / no-op);
 *  - a value equal to a write we still have in flight to that side is that write landing: if the
 *    base moved on meanwhile (a person's newer edit), it is drift and the side is commanded back;
 *  - any other value is a person's change: accepted (base moves, the other side is commanded)
 *    unless a write of ours to that side was still in flight — then both sides moved the field
 *    apart, a conflict settled by the field's policy.
 */
import type {
  ChangeEvent,
  Conflict,
  ConflictSide,
  EntityState,
  Person,
  UnresolvedValue,
  WriteCommand,
  WriteOutcome,
} from '../../schemas/generated/types.ts';
import type { Flow, SyncedField } from './flow.ts';
import { flows, policyFor, policyName } from './flow.ts';
import type { PeopleDirectory } from '../core/people/index.ts';
import type { IdFn } from './ids.ts';
import { mergeLabels, mergeText } from './merge.ts';
import type { FieldState, LinkSide, LinkState, SideFieldState } from './state.ts';
import { RECENT_IDS } from './state.ts';
import type { CanonicalLabel, FieldValue, Translated } from './values.ts';
import { emptyEntityState, equal, fieldsFor, flowLabels, toFlowValue, toPlatformState } from './values.ts';

export type NoteCode =
  | 'duplicate'
  | 'stale'
  | 'not_in_flow'
  | 'not_linked'
  | 'one_way'
  | 'aside'
  | 'link_closed'
  | 'unlinked'
  | 'deleted'
  | 'person_unmatched'
  | 'status_unmapped'
  | 'held'
  | 'drift'
  | 'not_taken'
  | 'write_failed'
  | 'awaiting_create'
  | 'linked'
  | 'duplicate_create'
  | 'awaits_backfill';

export interface Note {
  code: NoteCode;
  message: string;
  linkId: string | null;
  platform: string | null;
  field: string | null;
}

/** An event to keep and decide again once a link names its entity (see DecideResult.aside). */
export interface Aside {
  /** `entity:<platform>:<entityId>` (our own create, until its outcome) or `link:<linkId>` (a comment whose issue is still being created). */
  key: string;
  event: ChangeEvent;
}

export interface DecideContext {
  nowMs: number;
  ids: IdFn;
  /**
   * For a comment: the link of the issue it belongs to (looked up by the caller; by the event's
   * parentId when the comment has no link yet, by `parentLinkId` once it has). Its sides give the
   * `parentId` of comment commands: Jira addresses a comment only under its issue.
   */
  parent?: LinkState | null;
  /**
   * How each platform holds a label (the connectors' `canonicalLabel`); labels read from a
   * platform are mapped back to the link's spelling through it (values.ts `flowLabels`).
   * Absent: every platform holds labels as given.
   */
  canonicalLabel?: CanonicalLabel;
  /**
   * The `people:` overrides (core/people): how a platform's person becomes the person key a base
   * holds, and a key the target's person. Absent: people are matched by email only.
   */
  people?: PeopleDirectory;
  /**
   * When the event's flow began (reconciler/flow-starts.ts). A poll's read of an unlinked issue
   * made before then is not created on the other sides: it is left to `lockstep backfill`, which
   * pairs it with a counterpart it may already have. Absent: every unlinked issue read is new.
   */
  flowStartedAtMs?: number;
}

export interface DecideResult {
  state: LinkState | null;
  commands: WriteCommand[];
  conflicts: Conflict[];
  notes: Note[];
  aside: Aside | null;
}

export type Input = ChangeEvent | WriteOutcome;

/**
 * How long after a record was created an edit of it, while it is not linked yet, is kept for a
 * create outcome that may still name it (our create, edited by a person before the outcome).
 */
export const EDIT_BEFORE_OUTCOME_MS = 15 * 60_000;

/**
 * How far a platform's clock may be behind ours when an item made just after its flow began is
 * read: such an item still counts as new. One made earlier than this before the flow began is
 * left to `lockstep backfill` (see `flowStartedAtMs`).
 */
export const FLOW_START_SKEW_MS = 5 * 60_000;

export function entityAsideKey(platform: string, entityId: string): string {
  return `entity:${platform}:${entityId}`;
}
export function linkAsideKey(linkId: string): string {
  return `link:${linkId}`;
}

export function isChangeEvent(input: Input): input is ChangeEvent {
  return 'eventId' in input;
}

/** Accumulates one decision's effects; turns per-field writes into one command per target. */
class Run {
  readonly state: LinkState;
  readonly flow: Flow;
  readonly ctx: DecideContext;
  readonly cause: string;
  readonly commands: WriteCommand[] = [];
  readonly conflicts: Conflict[] = [];
  readonly notes: Note[] = [];
  // target platform → field → value
  private readonly writes = new Map<string, Map<SyncedField, FieldValue>>();
  // target platform → field → the value the side is taken to hold (see write())
  private readonly bases = new Map<string, Map<SyncedField, FieldValue>>();
  // field → a person read on one platform that its value could not carry (see cannotCarry())
  private readonly uncarried = new Map<SyncedField, UnresolvedValue>();

  constructor(state: LinkState, flow: Flow, ctx: DecideContext, cause: string) {
    this.state = state;
    this.flow = flow;
    this.ctx = ctx;
    this.cause = cause;
  }

  note(code: NoteCode, message: string, platform: string | null = null, field: string | null = null): void {
    this.notes.push({ code, message, linkId: this.state.linkId, platform, field });
  }

  /**
   * Commands `platform` to take `value`. The command's base (what egress expects the side to hold)
   * is by default what the side will hold once our writes in flight to it land — egress applies one
   * target's commands in order; `holds` overrides it when a person's edit was seen on that side
   * after those writes were sent (egress refuses them as stale, so the side keeps the person's value).
   */
  write(platform: string, field: SyncedField, value: FieldValue, holds?: FieldValue): void {
    const m = this.writes.get(platform) ?? new Map<SyncedField, FieldValue>();
    m.set(field, value);
    this.writes.set(platform, m);
    const b = this.bases.get(platform) ?? new Map<SyncedField, FieldValue>();
    if (holds === undefined) b.delete(field);
    else b.set(field, holds);
    this.bases.set(platform, b);
  }

  /**
   * `field`, as read on `platform`, names someone the flow value cannot carry (null in their
   * place): the commands that write the field to the other sides carry it as `unresolved`, so
   * egress says so on the item (egress/notes.ts).
   */
  cannotCarry(field: SyncedField, platform: string, u: { person: Person; reason: string }): void {
    this.uncarried.set(field, { field, platform, person: u.person, reason: u.reason });
  }

  /** What a command to `platform` writing `fields` could not carry (see cannotCarry()). */
  unresolvedFor(platform: string, fields: Iterable<SyncedField>): UnresolvedValue[] {
    return [...fields].flatMap((f) => {
      const u = this.uncarried.get(f);
      return u && u.platform !== platform ? [u] : [];
    });
  }

  /** Does this decision write `field` to a side other than `except`? */
  writesTo(field: SyncedField, except: string): boolean {
    for (const [platform, m] of this.writes) if (platform !== except && m.has(field)) return true;
    return false;
  }

  /** One update command per target, carrying every field this decision changed there. */
  flush(): void {
    for (const side of this.state.sides) {
      const values = this.writes.get(side.platform);
      if (!values || values.size === 0) continue;
      if (side.entityId === null) {
        // The create's outcome compares what was created with the base and repairs the difference.
        this.note(
          'awaiting_create',
          `${[...values.keys()].join(', ')} for ${side.platform} will follow once the create is confirmed`,
          side.platform,
        );
        continue;
      }
      // The base is what the side will hold when egress gets to this command (see write()). Its
      // last seen value would make every command queued behind another of ours look stale.
      const baseValues = new Map<SyncedField, FieldValue>();
      for (const field of values.keys()) {
        const held = this.bases.get(side.platform);
        const before = held?.has(field)
          ? held.get(field)
          : effective(this.state.fields[field]?.sides[side.platform]);
        if (before !== undefined) baseValues.set(field, before);
      }
      const fields = toPlatformState(this.flow, side.platform, values, this.ctx.people);
      const base =
        baseValues.size > 0 ? toPlatformState(this.flow, side.platform, baseValues, this.ctx.people) : null;
      const commandId = this.ctx.ids(
        'command',
        this.state.linkId,
        side.platform,
        'update',
        JSON.stringify(fields),
        this.cause,
      );
      this.commands.push(
        command(
          this.state,
          this.flow,
          side,
          'update',
          fields,
          base,
          this.cause,
          this.ctx,
          commandId,
          parentIdOn(this.ctx, side.platform),
          this.unresolvedFor(side.platform, values.keys()),
        ),
      );
      for (const [field, value] of values) {
        sideField(this.state.fields[field]!, side.platform).pending.push({ commandId, value });
      }
    }
    this.writes.clear();
    this.bases.clear();
    this.uncarried.clear();
  }
}

function command(
  state: LinkState,
  flow: Flow,
  side: LinkSide,
  action: WriteCommand['action'],
  fields: EntityState,
  base: EntityState | null,
  cause: string,
  ctx: DecideContext,
  commandId: string,
  parentId: string | null = null,
  unresolved: UnresolvedValue[] = [],
): WriteCommand {
  return {
    commandId,
    linkId: state.linkId,
    flowId: flow.id,
    platform: side.platform,
    workspace: side.workspace,
    action,
    entityType: side.entityType,
    targetId: action === 'create' ? null : side.entityId,
    parentId,
    fields,
    base,
    marker: action === 'create' ? state.linkId : null,
    causedBy: cause.startsWith('event:') ? cause.slice('event:'.length) : null,
    // Spelled out by process.ts, which holds the input (decide sees only its id).
    cause: null,
    createdAtMs: ctx.nowMs,
    unresolved,
  };
}

function sideField(fs: FieldState, platform: string): SideFieldState {
  let sf = fs.sides[platform];
  if (!sf) {
    sf = { tsMs: 0, version: null, pending: [] };
    fs.sides[platform] = sf;
  }
  return sf;
}

/**
 * `platform`'s value of `field` in flow terms. Labels are read in the link's spelling: a label the
 * platform holds in its own spelling (Jira `needs_review` for `needs review`) is the link's label
 * when the base, a write in flight to that side or a value seen on a side has it (flowLabels).
 */
export function observed(
  ctx: Pick<DecideContext, 'canonicalLabel' | 'people'>,
  flow: Flow,
  platform: string,
  field: SyncedField,
  state: EntityState,
  fs: FieldState | undefined,
): Translated | undefined {
  const t = toFlowValue(flow, platform, field, state, ctx.people);
  const canonicalLabel = ctx.canonicalLabel;
  if (t === undefined || field !== 'labels' || !canonicalLabel || !fs || !Array.isArray(t.value)) return t;
  const here = fs.sides[platform];
  const known = [
    fs.base,
    ...(here ? [...here.pending].reverse().map((p) => p.value) : []),
    here?.seen,
    ...Object.entries(fs.sides)
      .filter(([p]) => p !== platform)
      .map(([, sf]) => sf.seen),
  ].filter((v): v is string[] => Array.isArray(v));
  return {
    value: flowLabels(t.value, (label) => canonicalLabel(platform, label), known),
    note: t.note,
  };
}

/** What a side will hold once our writes in flight land. */
function effective(sf: SideFieldState | undefined): FieldValue | undefined {
  if (!sf) return undefined;
  return sf.pending.length > 0 ? sf.pending[sf.pending.length - 1]!.value : sf.seen;
}

function remember(list: string[], id: string): void {
  list.push(id);
  if (list.length > RECENT_IDS) list.splice(0, list.length - RECENT_IDS);
}

function json(v: FieldValue | undefined): string {
  return JSON.stringify(v ?? null);
}

function noteTranslation(run: Run, platform: string, field: SyncedField, t: Translated): void {
  if (t.unresolved) run.cannotCarry(field, platform, t.unresolved);
  if (t.note === null) return;
  run.note(field === 'assignee' ? 'person_unmatched' : 'status_unmapped', t.note, platform, field);
}

/** The person in `field` of `before` and `after` differ (the platform said it changed). */
function personChanged(before: EntityState | null, after: EntityState, field: SyncedField): boolean {
  if (field !== 'assignee' || !before?.known.includes(field)) return false;
  const id = (p: Person | null) => (p ? (p.platformUserId ?? p.email ?? p.displayName) : null);
  return id(before.assignee) !== id(after.assignee);
}

interface Observation {
  platform: string;
  field: SyncedField;
  value: FieldValue;
  tsMs: number;
  version: string | null;
  /** What the platform said the field was before (events only). */
  before: FieldValue | undefined;
  actor: Person | null;
  /** For an outcome: the command ids it reports on. */
  commandIds: ReadonlySet<string> | null;
}

function observe(run: Run, fs: FieldState, o: Observation): void {
  const { platform, field, value } = o;
  const sf = sideField(fs, platform);
  if (o.tsMs < sf.tsMs) {
    run.note(
      'stale',
      `ignored ${field} from ${platform}: older than what was already seen there`,
      platform,
      field,
    );
    // An outcome's own write is still done with, even if a newer edit overtook it.
    if (o.commandIds) sf.pending = sf.pending.filter((p) => !o.commandIds!.has(p.commandId));
    return;
  }
  const idx = o.commandIds
    ? sf.pending.findIndex((p) => o.commandIds!.has(p.commandId))
    : sf.pending.findLastIndex((p) => equal(p.value, value));
  const entry = idx >= 0 ? sf.pending[idx]! : undefined;

  if (o.commandIds && entry && !equal(value, entry.value)) {
    // The platform did not take the value (e.g. no user with that email there). Record what it
    // holds, but do not repeat the write: it would fail the same way forever.
    sf.pending.splice(idx, 1);
    sf.seen = value;
    sf.tsMs = o.tsMs;
    sf.version = o.version;
    run.note(
      'not_taken',
      `${platform} kept ${field} at ${json(value)} instead of ${json(entry.value)}`,
      platform,
      field,
    );
    return;
  }

  const previous = sf.seen;
  const unchanged = previous !== undefined && equal(value, previous);
  sf.seen = value;
  sf.tsMs = o.tsMs;
  sf.version = o.version;
  // Writes up to the one that just landed are done (egress applies one target's commands in order).
  if (entry) sf.pending.splice(0, idx + 1);
  if (unchanged) return;

  if (fs.held) {
    run.note(
      'held',
      `${field} is held by conflict ${fs.held.conflictId}; ${platform} now shows ${json(value)}`,
      platform,
      field,
    );
    return;
  }
  if (equal(value, fs.base)) return; // echo of our write, or a no-op

  if (entry) {
    if (sf.pending.length > 0) return; // a newer write to this side is already on its way
    // Our write landed after a newer agreed value: drift, not a change. Put the side back.
    run.note(
      'drift',
      `${platform} ${field} drifted to ${json(value)}; writing back ${json(fs.base)}`,
      platform,
      field,
    );
    run.write(platform, field, fs.base);
    return;
  }

  // A person changed the field on `platform`.
  const others = run.state.sides.filter((s) => s.platform !== platform);
  if (!others.some((s) => flows(run.flow, platform, s.platform))) {
    run.note(
      'one_way',
      `${field} changed on ${platform}; this flow does not write from ${platform}`,
      platform,
      field,
    );
    return;
  }
  // Concurrent when a write of ours to this side was still in flight, unless the platform told
  // us the change started from the agreed value (then the person saw our write).
  const concurrent = sf.pending.length > 0 && !(o.before !== undefined && equal(o.before, fs.base));
  if (!concurrent) {
    accept(run, fs, field, platform, value, o.tsMs);
    return;
  }
  settle(run, fs, o, previous ?? fs.base);
}

function accept(
  run: Run,
  fs: FieldState,
  field: SyncedField,
  from: string,
  value: FieldValue,
  tsMs: number,
): void {
  fs.base = value;
  fs.baseTsMs = tsMs;
  fs.basePlatform = from;
  for (const side of run.state.sides) {
    if (side.platform === from || !flows(run.flow, from, side.platform)) continue;
    if (!equal(effective(fs.sides[side.platform]), value)) run.write(side.platform, field, value);
  }
}

/**
 * `platform` moved the field away from a base that another side's change set while our write of
 * it to `platform` was in flight: settle by the field's policy. With more than two sides the
 * conflict is still the change against the base; the record names every side of the link — the
 * side that moved with its new value, the side whose change set the base with the base, each
 * other side with what it holds or is about to hold.
 */
function settle(run: Run, fs: FieldState, o: Observation, ancestor: FieldValue): void {
  const { field, platform } = o;
  const policy = policyFor(run.flow, field);
  // The base's side: the one whose change set it; after a merge or a person's resolution (no
  // one side), the first other side in the flow's order.
  const other =
    run.state.sides.find((s) => s.platform !== platform && s.platform === fs.basePlatform) ??
    run.state.sides.find((s) => s.platform !== platform)!;
  const sides: ConflictSide[] = run.state.sides.map((side) => {
    if (side.platform === platform) {
      return {
        platform,
        entityId: side.entityId ?? '',
        valueJson: json(o.value),
        tsMs: o.tsMs,
        actor: o.actor,
      };
    }
    const sf = fs.sides[side.platform];
    return side.platform === other.platform
      ? {
          platform: side.platform,
          entityId: side.entityId ?? '',
          valueJson: json(fs.base),
          tsMs: fs.baseTsMs,
          actor: null,
        }
      : {
          platform: side.platform,
          entityId: side.entityId ?? '',
          valueJson: json(effective(sf) ?? fs.base),
          tsMs: sf?.tsMs ?? 0,
          actor: null,
        };
  });
  // The side that moved is listed last (as with two sides: the base's side first).
  sides.sort((a, b) => Number(a.platform === platform) - Number(b.platform === platform));
  const conflictId = run.ctx.ids('conflict', run.state.linkId, field, run.cause);
  const record = (status: Conflict['status'], resolution: FieldValue | undefined): Conflict => ({
    conflictId,
    linkId: run.state.linkId,
    flowId: run.flow.id,
    field,
    policy: policyName(policy),
    baseJson: json(ancestor),
    sides,
    status,
    resolutionJson: resolution === undefined ? null : json(resolution),
    resolvedBy: status === 'resolved' ? `policy:${policyName(policy)}` : null,
    tsMs: run.ctx.nowMs,
  });
  const hold = () => {
    fs.held = { conflictId };
    const c = record('open', undefined);
    run.state.openConflicts.push(c);
    run.conflicts.push(c);
    run.note('held', `${field} conflict ${conflictId} held for a person to resolve`, platform, field);
  };

  const order = run.flow.sides.map((s) => s.platform);
  let winner: 'event' | 'base' | null = null;
  let merged: FieldValue | undefined;
  if (policy === 'last-write-wins') {
    // Platform clocks differ; equal times go to the side listed first in the flow.
    if (o.tsMs !== fs.baseTsMs) winner = o.tsMs > fs.baseTsMs ? 'event' : 'base';
    else winner = order.indexOf(platform) < order.indexOf(other.platform) ? 'event' : 'base';
  } else if (typeof policy === 'object') {
    const rank = (p: string) => {
      const i = policy.prefer.indexOf(p);
      return i < 0 ? Number.MAX_SAFE_INTEGER : i;
    };
    winner = rank(platform) <= rank(other.platform) ? 'event' : 'base';
  } else if (policy === 'merge') {
    if (field === 'labels') {
      merged = mergeLabels(asList(ancestor), asList(fs.base), asList(o.value));
    } else {
      const m = mergeText(asText(ancestor), asText(fs.base), asText(o.value));
      if (m !== null) merged = m;
    }
    if (merged === undefined) return hold();
  } else {
    return hold();
  }

  let result: FieldValue;
  if (merged !== undefined) {
    result = merged;
    fs.base = merged;
    fs.baseTsMs = Math.max(fs.baseTsMs, o.tsMs);
    fs.basePlatform = null;
  } else if (winner === 'event') {
    result = o.value;
    fs.base = o.value;
    fs.baseTsMs = o.tsMs;
    fs.basePlatform = platform;
  } else {
    result = fs.base;
  }
  run.conflicts.push(record('resolved', result));
  for (const side of run.state.sides) {
    // The side that moved is compared with what it shows: a write still in flight to it is
    // repaired as drift when it lands (or refused by egress as stale).
    const moved = side.platform === platform;
    const holds = moved ? o.value : effective(fs.sides[side.platform]);
    if (!equal(holds, result)) run.write(side.platform, field, result, moved ? o.value : undefined);
  }
}

function asList(v: FieldValue): string[] {
  return Array.isArray(v) ? v : [];
}
function asText(v: FieldValue): string | null {
  return typeof v === 'string' ? v : null;
}

function sideOf(state: LinkState, platform: string): LinkSide {
  return state.sides.find((s) => s.platform === platform)!;
}

/** The parent issue's id on `platform`, for commands on a comment link (null for issues). */
function parentIdOn(ctx: DecideContext, platform: string): string | null {
  return ctx.parent?.sides.find((s) => s.platform === platform)?.entityId ?? null;
}

function result(
  state: LinkState | null,
  run: Run | null,
  notes: Note[] = [],
  aside: Aside | null = null,
): DecideResult {
  return {
    state,
    commands: run?.commands ?? [],
    conflicts: run?.conflicts ?? [],
    notes: [...notes, ...(run?.notes ?? [])],
    aside,
  };
}

function bareNote(code: NoteCode, message: string, linkId: string | null, platform: string | null): Note {
  return { code, message, linkId, platform, field: null };
}

export function decide(state: LinkState | null, input: Input, flow: Flow, ctx: DecideContext): DecideResult {
  if (isChangeEvent(input)) {
    return state === null
      ? decideNew(input, flow, ctx)
      : decideEvent(structuredClone(state), input, flow, ctx);
  }
  if (state === null) {
    return result(null, null, [
      bareNote(
        'not_linked',
        `outcome of command ${input.commandId} for unknown link ${input.linkId}`,
        input.linkId,
        input.platform,
      ),
    ]);
  }
  return decideOutcome(structuredClone(state), input, flow, ctx);
}

/** True when `createdAtMs` is before `bound`; an unknown creation time counts as before. */
function madeBefore(createdAtMs: number | null | undefined, bound: number): boolean {
  return createdAtMs === null || createdAtMs === undefined || createdAtMs < bound;
}

/** An event for an entity with no link: a new item (or comment) may have to be created elsewhere. */
function decideNew(ev: ChangeEvent, flow: Flow, ctx: DecideContext): DecideResult {
  const src = ev.source;
  const skip = (code: NoteCode, message: string, aside: Aside | null = null) =>
    result(null, null, [bareNote(code, message, null, src.platform)], aside);

  if (ev.op === 'd' || ev.after === null) {
    return skip(
      'not_linked',
      `${src.entityType} ${src.entityId} on ${src.platform} is not linked; ${ev.op} ignored`,
    );
  }
  if (src.actorIsLockstep || src.marker !== null) {
    // Our own create seen before its outcome: by the actor (a webhook) or by the marker it carries
    // (a poll, whose actor is unknown). Never mirror it; kept until the outcome (or the link the
    // marker names, see process.ts) links it.
    const why =
      src.marker !== null ? `carries the create marker of link ${src.marker}` : 'was created by Lockstep';
    return skip(
      'aside',
      `${src.entityType} ${src.entityId} on ${src.platform} ${why}; kept until its outcome links it`,
      {
        key: entityAsideKey(src.platform, src.entityId),
        event: ev,
      },
    );
  }
  if (ev.op === 'u') {
    // A person may edit our new record before the create's outcome names it: that edit must wait
    // for the outcome, not be dropped. Only a recently created record can be such a one; an edit
    // of an old record that was never linked is not ours to keep.
    const created = ev.after.createdAtMs;
    if (created !== null && src.tsMs - created <= EDIT_BEFORE_OUTCOME_MS) {
      return skip(
        'aside',
        `${src.entityType} ${src.entityId} on ${src.platform} is not linked yet; its edit is kept until a create outcome names it`,
        { key: entityAsideKey(src.platform, src.entityId), event: ev },
      );
    }
    return skip(
      'not_linked',
      `${src.entityType} ${src.entityId} on ${src.platform} is not linked; ${ev.op} ignored`,
    );
  }
  if (
    ev.op === 'r' &&
    src.via !== 'backfill' &&
    src.entityType === 'issue' &&
    ctx.flowStartedAtMs !== undefined &&
    madeBefore(ev.after.createdAtMs, ctx.flowStartedAtMs - FLOW_START_SKEW_MS)
  ) {
    // A poll read an item that existed before the flow began: it may have a counterpart already.
    return skip(
      'awaits_backfill',
      `${src.entityType} ${src.entityKey ?? src.entityId} on ${src.platform} existed before flow ${flow.id} began; live sync does not create it: run lockstep backfill --flow ${flow.id}`,
    );
  }
  const isComment = src.entityType === 'comment';
  const parent = isComment ? (ctx.parent ?? null) : null;
  if (isComment && (parent === null || parent.status === 'unlinked' || parent.status === 'deleted')) {
    return skip(
      'not_linked',
      `comment ${src.entityId} on ${src.platform}: its issue ${src.parentId ?? '?'} is not linked`,
    );
  }
  const sourceSide = flow.sides.find(
    (s) => s.platform === src.platform && (isComment || s.workspace === src.workspace),
  );
  if (!sourceSide)
    return skip('not_in_flow', `${src.platform}/${src.workspace} is not a side of flow ${flow.id}`);
  if (parent !== null && parent.status === 'pending') {
    return skip('aside', `comment ${src.entityId}: its issue is still being created; kept until it is`, {
      key: linkAsideKey(parent.linkId),
      event: ev,
    });
  }
  const targets = flow.sides.filter((s) => flows(flow, src.platform, s.platform));
  if (targets.length === 0) {
    return skip(
      'one_way',
      `flow ${flow.id} does not write from ${src.platform}; ${src.entityId} not mirrored`,
    );
  }

  const kind = isComment ? 'comment' : 'issue';
  const linkId = ctx.ids('link', flow.id, src.platform, kind, src.entityId);
  const state: LinkState = {
    version: 1,
    linkId,
    flowId: flow.id,
    kind,
    parentLinkId: parent?.linkId ?? null,
    status: 'pending',
    sides: flow.sides.map((s) => {
      const isSource = s.platform === src.platform;
      return {
        platform: s.platform,
        workspace: isSource ? src.workspace : s.workspace,
        entityType: isComment ? 'comment' : isSource ? src.entityType : s.entityType,
        entityId: isSource ? src.entityId : null,
        entityKey: isSource ? src.entityKey : null,
        createCommandId: null,
      };
    }),
    fields: {},
    openConflicts: [],
    recentEventIds: [ev.eventId],
    recentOutcomes: [],
    createdAtMs: ctx.nowMs,
    updatedAtMs: ctx.nowMs,
  };
  const run = new Run(state, flow, ctx, `event:${ev.eventId}`);
  const values = new Map<SyncedField, FieldValue>();
  for (const field of fieldsFor(kind)) {
    const t = toFlowValue(flow, src.platform, field, ev.after, ctx.people);
    if (t === undefined) continue;
    values.set(field, t.value);
    noteTranslation(run, src.platform, field, t);
    state.fields[field] = {
      base: t.value,
      baseTsMs: src.tsMs,
      basePlatform: src.platform,
      sides: { [src.platform]: { seen: t.value, tsMs: src.tsMs, version: src.version, pending: [] } },
      held: null,
    };
  }
  for (const target of targets) {
    const side = sideOf(state, target.platform);
    const commandId = ctx.ids('command', linkId, side.platform, 'create');
    side.createCommandId = commandId;
    const parentId = parent ? (sideOf(parent, side.platform).entityId ?? null) : null;
    const fields = toPlatformState(flow, side.platform, values, ctx.people);
    run.commands.push(
      command(
        state,
        flow,
        side,
        'create',
        fields,
        null,
        run.cause,
        ctx,
        commandId,
        parentId,
        run.unresolvedFor(side.platform, values.keys()),
      ),
    );
    for (const [field, value] of values)
      sideField(state.fields[field]!, side.platform).pending.push({ commandId, value });
  }
  return result(state, run);
}

function decideEvent(state: LinkState, ev: ChangeEvent, flow: Flow, ctx: DecideContext): DecideResult {
  const src = ev.source;
  const run = new Run(state, flow, ctx, `event:${ev.eventId}`);
  if (state.recentEventIds.includes(ev.eventId)) {
    run.note('duplicate', `event ${ev.eventId} was already processed`, src.platform);
    return result(state, run);
  }
  const side = state.sides.find((s) => s.platform === src.platform);
  if (!side) {
    run.note('not_in_flow', `${src.platform} is not a side of link ${state.linkId}`, src.platform);
    return result(state, run);
  }
  remember(state.recentEventIds, ev.eventId);
  state.updatedAtMs = ctx.nowMs;
  if (state.status === 'unlinked' || state.status === 'deleted') {
    run.note(
      'link_closed',
      `link is ${state.status}; ${src.platform} ${src.entityId} change ignored`,
      src.platform,
    );
    return result(state, run);
  }
  // Only the link a marker names comes here with this side unset (process.ts): the record is our
  // create, seen before its outcome. Bind it now; the outcome then finds it bound.
  const boundByMarker = side.entityId === null;
  if (boundByMarker) {
    side.entityId = src.entityId;
    side.entityKey = src.entityKey;
    if (state.status === 'pending' && state.sides.every((s) => s.entityId !== null)) state.status = 'active';
    run.note(
      'linked',
      `${src.entityType} ${src.entityId} on ${src.platform} bound by its create marker`,
      src.platform,
    );
  }

  if (ev.op === 'd') {
    if (flow.onDelete === 'propagate') {
      state.status = 'deleted';
      for (const other of state.sides) {
        if (
          other.platform === src.platform ||
          other.entityId === null ||
          !flows(flow, src.platform, other.platform)
        ) {
          continue;
        }
        const commandId = ctx.ids('command', state.linkId, other.platform, 'delete');
        run.commands.push(
          command(
            state,
            flow,
            other,
            'delete',
            emptyFields(),
            null,
            run.cause,
            ctx,
            commandId,
            parentIdOn(ctx, other.platform),
          ),
        );
      }
      run.note(
        'deleted',
        `deleted on ${src.platform}; deleting the linked records (onDelete: propagate)`,
        src.platform,
      );
    } else {
      state.status = 'unlinked';
      run.note(
        'unlinked',
        `deleted on ${src.platform}; unlinked, the other records are left as they are (onDelete: unlink)`,
        src.platform,
      );
    }
    return result(state, run);
  }
  // Bound by its marker: the values are those of our own create while it is still being made. A
  // create can take more than one call (Asana's move to the status's section after the create,
  // Jira's transition), and a read between them shows the platform's default (the project's first
  // section) — not a person's edit, so it must not be observed as one. The create's outcome brings
  // what the create left; a person's later edit comes with its own, newer version.
  if (ev.after === null || boundByMarker) return result(state, run);

  for (const field of fieldsFor(state.kind)) {
    let fs = state.fields[field];
    const t = observed(ctx, flow, src.platform, field, ev.after, fs);
    if (t === undefined) continue;
    const before = ev.before ? observed(ctx, flow, src.platform, field, ev.before, fs)?.value : undefined;
    if (!fs) {
      // First time this field is known for the link: nothing to agree with yet.
      fs = { base: t.value, baseTsMs: src.tsMs, basePlatform: src.platform, sides: {}, held: null };
      state.fields[field] = fs;
      sideField(fs, src.platform);
      accept(run, fs, field, src.platform, t.value, src.tsMs);
    }
    observe(run, fs, {
      platform: src.platform,
      field,
      value: t.value,
      tsMs: src.tsMs,
      version: src.version,
      before,
      actor: src.actor,
      commandIds: null,
    });
    if (
      t.unresolved &&
      !fs.held &&
      !run.writesTo(field, src.platform) &&
      personChanged(ev.before, ev.after, field)
    ) {
      // Someone the flow cannot carry was just assigned where the others already hold what they
      // are left with (unassigned): nothing changes in flow terms, but the item must still say
      // why. The sides are commanded to hold that value (a repeat, which costs them no write), and
      // the command carries the person (WriteCommand.unresolved) for egress to note.
      for (const side of state.sides)
        if (
          side.platform !== src.platform &&
          flows(flow, src.platform, side.platform) &&
          equal(effective(fs.sides[side.platform]), t.value)
        )
          run.write(side.platform, field, t.value);
    }
    // A translation note (person without email, unmapped status) matters when the value is written on.
    if (run.writesTo(field, src.platform)) noteTranslation(run, src.platform, field, t);
  }
  run.flush();
  return result(state, run);
}

function emptyFields(): EntityState {
  return emptyEntityState();
}

function decideOutcome(state: LinkState, out: WriteOutcome, flow: Flow, ctx: DecideContext): DecideResult {
  const run = new Run(state, flow, ctx, `outcome:${out.commandId}:${out.status}`);
  const key = `${out.commandId}:${out.status}`;
  if (state.recentOutcomes.includes(key)) {
    run.note('duplicate', `outcome ${key} was already processed`, out.platform);
    return result(state, run);
  }
  const side = state.sides.find((s) => s.platform === out.platform);
  if (!side) {
    run.note('not_in_flow', `${out.platform} is not a side of link ${state.linkId}`, out.platform);
    return result(state, run);
  }
  remember(state.recentOutcomes, key);
  state.updatedAtMs = ctx.nowMs;
  const ok = out.status === 'applied' || out.status === 'already_applied';
  const commandIds = new Set([out.commandId, ...out.coalesced]);

  if (
    side.createCommandId !== null &&
    commandIds.has(side.createCommandId) &&
    side.entityId !== null &&
    ok &&
    out.targetId !== null &&
    out.targetId !== side.entityId
  ) {
    // The side was bound by its marker to another record: the platform holds two records of one
    // create. Never keep that silently (process.ts turns this note into an error and a dead letter).
    run.note(
      'duplicate_create',
      `create ${out.commandId} on ${out.platform} made ${out.targetKey ?? out.targetId}, but link ${state.linkId} is bound to ${side.entityKey ?? side.entityId} there`,
      out.platform,
    );
    return result(state, run);
  }
  if (side.createCommandId !== null && commandIds.has(side.createCommandId) && side.entityId === null) {
    if (ok && out.targetId !== null) {
      side.entityId = out.targetId;
      side.entityKey = out.targetKey;
      if (state.status === 'pending' && state.sides.every((s) => s.entityId !== null))
        state.status = 'active';
      run.note('linked', `created ${out.targetKey ?? out.targetId} on ${out.platform}`, out.platform);
    } else if (ok) {
      run.note(
        'write_failed',
        `create on ${out.platform} reported ${out.status} without naming the record`,
        out.platform,
      );
      return result(state, run);
    }
  }
  if (!ok) {
    const why = out.error ? `${out.error.category}: ${out.error.message}` : out.status;
    run.note(
      'write_failed',
      `command ${out.commandId} on ${out.platform} ${out.status} (${why})`,
      out.platform,
    );
    for (const fs of Object.values(state.fields)) {
      const sf = fs?.sides[out.platform];
      if (sf) sf.pending = sf.pending.filter((p) => !commandIds.has(p.commandId));
    }
    // (egress engineer, issue 7 finding 9) The record we wrote to no longer exists there: it was
    // deleted and we never saw the delete. Close the link with a note, as onDelete: unlink does
    // for a delete seen — never propagate a delete from a failed write.
    if (out.error?.category === 'not_found' && out.action !== 'create' && state.status === 'active') {
      state.status = 'unlinked';
      run.note(
        'unlinked',
        `${out.platform} ${out.targetKey ?? out.targetId ?? ''} no longer exists (a write to it found nothing); unlinked, the other records are left as they are`,
        out.platform,
      );
    }
    return result(state, run);
  }
  if (state.status === 'unlinked' || state.status === 'deleted') return result(state, run);

  for (const field of fieldsFor(state.kind)) {
    const fs = state.fields[field];
    const sf = fs?.sides[out.platform];
    const entry = sf?.pending.find((p) => commandIds.has(p.commandId));
    if (!fs || !sf || !entry) continue;
    const written = out.written ? observed(ctx, flow, out.platform, field, out.written, fs) : undefined;
    observe(run, fs, {
      platform: out.platform,
      field,
      value: written ? written.value : entry.value,
      // Without the platform's time, the write is ordered just after what was seen there.
      tsMs: out.platformTsMs ?? sf.tsMs,
      version: out.platformVersion,
      before: undefined,
      actor: null,
      commandIds,
    });
  }
  run.flush();
  return result(state, run);
}

export type ResolveResult =
  | { ok: true; state: LinkState; commands: WriteCommand[]; conflicts: Conflict[]; notes: Note[] }
  | { ok: false; error: string };

/**
 * A person settles a held conflict: the chosen (flow-level) value becomes the base and every side
 * that does not hold it is commanded to.
 */
export function resolveConflict(
  state: LinkState,
  flow: Flow,
  conflictId: string,
  chosen: FieldValue,
  ctx: DecideContext,
  resolvedBy = 'cli',
): ResolveResult {
  const next = structuredClone(state);
  const open = next.openConflicts.find((c) => c.conflictId === conflictId);
  if (!open)
    return { ok: false, error: `resolving conflict ${conflictId}: not open on link ${state.linkId}` };
  const field = open.field as SyncedField;
  const fs = next.fields[field];
  if (!fs || fs.held?.conflictId !== conflictId) {
    return { ok: false, error: `resolving conflict ${conflictId}: ${field} is not held by it` };
  }
  const run = new Run(next, flow, ctx, `resolve:${conflictId}`);
  fs.held = null;
  fs.base = chosen;
  fs.baseTsMs = Math.max(fs.baseTsMs, ...Object.values(fs.sides).map((s) => s.tsMs));
  fs.basePlatform = null;
  for (const side of next.sides) {
    if (!equal(effective(fs.sides[side.platform]), chosen)) run.write(side.platform, field, chosen);
  }
  run.flush();
  next.openConflicts = next.openConflicts.filter((c) => c.conflictId !== conflictId);
  const resolved: Conflict = {
    ...open,
    status: 'resolved',
    resolutionJson: json(chosen),
    resolvedBy,
    tsMs: ctx.nowMs,
  };
  next.updatedAtMs = ctx.nowMs;
  return { ok: true, state: next, commands: run.commands, conflicts: [resolved], notes: run.notes };
}

export type RollbackResult =
  | { ok: true; state: LinkState; commands: WriteCommand[]; notes: Note[] }
  | { ok: false; reason: RollbackRefusal; error: string };

/** Why a rolled-back write is left as it is. */
export type RollbackRefusal = 'changed' | 'already' | 'held' | 'not_active' | 'unmappable';

/**
 * Puts `platform`'s `field` back to `before`, what the platform held before Lockstep's writes there
 * in a window (`lockstep rollback`), given `after`, what Lockstep's last write there left. Both are
 * in the platform's own form, as the audit log records them. Only when the side still holds
 * `after`: a later edit (a person's, or another write) is left as it is and reported. The
 * before-value becomes the field's base, so the write's outcome is an echo, not drift to repair;
 * the other sides keep what they hold and are not written, and their next change syncs as usual.
 * The command's base is `after`, so egress refuses it as stale if the platform moved meanwhile.
 */
export function rollbackField(
  state: LinkState,
  flow: Flow,
  platform: string,
  field: SyncedField,
  before: EntityState,
  after: EntityState,
  ctx: DecideContext,
  ref: string,
): RollbackResult {
  const refuse = (reason: RollbackRefusal, why: string): RollbackResult => ({
    ok: false,
    reason,
    error: `${platform} ${field} of link ${state.linkId}: ${why}`,
  });
  if (state.status !== 'active') return refuse('not_active', `the link is ${state.status}`);
  const next = structuredClone(state);
  const fs = next.fields[field];
  const sf = fs?.sides[platform];
  if (!fs || !sf) return refuse('unmappable', 'the link holds no value for it');
  if (fs.held) return refuse('held', `held by conflict ${fs.held.conflictId}: resolve it first`);
  const from = observed(ctx, flow, platform, field, after, fs);
  const to = observed(ctx, flow, platform, field, before, fs);
  if (!from || !to) return refuse('unmappable', 'the recorded value does not map onto the flow');
  if (equal(from.value, to.value))
    return refuse('already', `Lockstep's writes in the window left it as it was (${json(to.value)})`);
  const holds = effective(sf);
  if (equal(holds, to.value)) return refuse('already', `already holds ${json(to.value)}`);
  if (!equal(holds, from.value))
    return refuse(
      'changed',
      `now holds ${json(holds)}, not ${json(from.value)} as Lockstep's write left it: a later edit, left as it is`,
    );
  const run = new Run(next, flow, ctx, `rollback:${ref}`);
  fs.base = to.value;
  fs.baseTsMs = Math.max(fs.baseTsMs, ...Object.values(fs.sides).map((s) => s.tsMs));
  fs.basePlatform = null;
  run.write(platform, field, to.value, from.value);
  run.flush();
  next.updatedAtMs = ctx.nowMs;
  return { ok: true, state: next, commands: run.commands, notes: run.notes };
}

/**
 * `lockstep backfill`: records on every side of a flow that already correspond (a link another
 * tool left, or the same title) become one link without a create. Each field is taken as it
 * stands: where every side holds the same value it becomes the base and nothing is written; where
 * the sides differ, the field's policy settles it as a conflict between two edits with no common
 * ancestor would be: `last-write-wins` takes the record updated last (its platform time: a record
 * has one updatedAt, not one per field), `prefer` the first side of its list; `merge` and `manual`
 * hold the field in an open conflict for a person (`lockstep conflicts resolve`). The winning
 * value is written to the other sides as an update whose base is what each holds now, so egress's
 * stale-base check still protects a person's edit made meanwhile.
 *
 * `reads` holds one read (op `r`) per flow side, in any order. The link id is derived from the
 * paired records, so pairing the same records again names the same link.
 */
export function pairLink(flow: Flow, reads: readonly ChangeEvent[], ctx: DecideContext): DecideResult {
  const bySide = flow.sides.map((s) => {
    const ev = reads.find((r) => r.source.platform === s.platform);
    if (!ev || ev.after === null)
      throw new Error(`pairing for flow ${flow.id}: no record read on ${s.platform}`);
    return { side: s, ev, after: ev.after };
  });
  const kind = 'issue';
  const linkId = ctx.ids(
    'link',
    flow.id,
    'pair',
    ...bySide.map((b) => `${b.side.platform}:${b.ev.source.entityId}`),
  );
  const state: LinkState = {
    version: 1,
    linkId,
    flowId: flow.id,
    kind,
    parentLinkId: null,
    status: 'active',
    sides: bySide.map(({ side, ev }) => ({
      platform: side.platform,
      workspace: ev.source.workspace,
      entityType: ev.source.entityType,
      entityId: ev.source.entityId,
      entityKey: ev.source.entityKey,
      createCommandId: null,
    })),
    fields: {},
    openConflicts: [],
    recentEventIds: bySide.map((b) => b.ev.eventId).slice(-RECENT_IDS),
    recentOutcomes: [],
    createdAtMs: ctx.nowMs,
    updatedAtMs: ctx.nowMs,
  };
  const run = new Run(state, flow, ctx, `pair:${linkId}`);
  const order = flow.sides.map((s) => s.platform);
  for (const field of fieldsFor(kind)) {
    const vals: { platform: string; value: FieldValue; tsMs: number; actor: Person | null }[] = [];
    for (const { side, ev, after } of bySide) {
      const t = toFlowValue(flow, side.platform, field, after, ctx.people);
      if (t === undefined) continue;
      vals.push({ platform: side.platform, value: t.value, tsMs: ev.source.tsMs, actor: ev.source.actor });
    }
    if (vals.length === 0) continue;
    const fs: FieldState = {
      base: vals[0]!.value,
      baseTsMs: vals[0]!.tsMs,
      basePlatform: null,
      sides: {},
      held: null,
    };
    state.fields[field] = fs;
    const src = new Map(bySide.map((b) => [b.side.platform, b.ev]));
    for (const v of vals)
      fs.sides[v.platform] = {
        seen: v.value,
        tsMs: v.tsMs,
        version: src.get(v.platform)!.source.version,
        pending: [],
      };
    if (vals.every((v) => equal(v.value, vals[0]!.value))) {
      fs.baseTsMs = Math.max(...vals.map((v) => v.tsMs));
      continue;
    }
    const policy = policyFor(flow, field);
    let winner: (typeof vals)[number] | undefined;
    if (policy === 'last-write-wins') {
      // Platform clocks differ; equal times go to the side listed first in the flow.
      winner = [...vals].sort(
        (a, b) => b.tsMs - a.tsMs || order.indexOf(a.platform) - order.indexOf(b.platform),
      )[0];
    } else if (typeof policy === 'object') {
      const rank = (p: string) => {
        const i = policy.prefer.indexOf(p);
        return i < 0 ? Number.MAX_SAFE_INTEGER : i;
      };
      winner = [...vals].sort(
        (a, b) =>
          rank(a.platform) - rank(b.platform) || order.indexOf(a.platform) - order.indexOf(b.platform),
      )[0];
    }
    if (winner === undefined) {
      // merge and manual: no common ancestor to merge from, so a person settles it.
      const conflictId = ctx.ids('conflict', linkId, field, run.cause);
      const c: Conflict = {
        conflictId,
        linkId,
        flowId: flow.id,
        field,
        policy: policyName(policy),
        baseJson: json(null),
        sides: vals.map((v) => ({
          platform: v.platform,
          entityId: sideOf(state, v.platform).entityId ?? '',
          valueJson: json(v.value),
          tsMs: v.tsMs,
          actor: v.actor,
        })),
        status: 'open',
        resolutionJson: null,
        resolvedBy: null,
        tsMs: ctx.nowMs,
      };
      fs.held = { conflictId };
      state.openConflicts.push(c);
      run.conflicts.push(c);
      run.note(
        'held',
        `${field} differs between the paired records; held for a person (policy ${policyName(policy)})`,
        null,
        field,
      );
      continue;
    }
    fs.base = winner.value;
    fs.baseTsMs = winner.tsMs;
    fs.basePlatform = winner.platform;
    for (const v of vals) {
      if (v.platform === winner.platform || equal(v.value, winner.value)) continue;
      if (!flows(flow, winner.platform, v.platform)) {
        run.note(
          'one_way',
          `${field} differs on ${v.platform}; this flow does not write from ${winner.platform} to it`,
          v.platform,
          field,
        );
        continue;
      }
      run.write(v.platform, field, winner.value);
    }
  }
  run.note(
    'linked',
    `paired ${state.sides.map((s) => `${s.platform}:${s.entityKey ?? s.entityId}`).join(' ')}`,
  );
  run.flush();
  return result(state, run);
}
