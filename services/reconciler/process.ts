/**
 * One input through decide() inside one store transaction: load the link(s), decide, record the
 * new state, the seen event, set-aside events, conflicts and the outbox rows. No Kafka here; the
 * service consumes, and the outbox relay publishes.
 */
import { LockstepError } from '../core/errors/index.ts';
import { commandsTopic, type TopicsConfig } from '../core/kafka/index.ts';
import type { PeopleDirectory } from '../core/people/index.ts';
import type {
  Cause,
  ChangeEvent,
  EntityState,
  WriteCommand,
  WriteOutcome,
} from '../../schemas/generated/types.ts';
import type { DecideResult, Note } from './decide.ts';
import type { RollbackRefusal } from './decide.ts';
import { decide, entityAsideKey, linkAsideKey, pairLink, resolveConflict, rollbackField } from './decide.ts';
import type { Flow, SyncedField } from './flow.ts';
import type { IdFn } from './ids.ts';
import type { LinkState } from './state.ts';
import type { StoreTx, OutboxRow } from './store.ts';
import type { CanonicalLabel, FieldValue } from './values.ts';

export interface ProcessDeps {
  flows: readonly Flow[];
  topics: TopicsConfig;
  ids: IdFn;
  now(): number;
  /** How each platform holds a label (the connectors' `canonicalLabel`); see DecideContext. */
  canonicalLabel?: CanonicalLabel;
  /** The `people:` overrides (core/people); see DecideContext. Absent: email only. */
  people?: PeopleDirectory;
  /** When each flow began, by flow id (flow-starts.ts); see DecideContext. Absent: no such rule. */
  flowStarts?: ReadonlyMap<string, number>;
}

export interface Processed {
  commands: WriteCommand[];
  conflicts: number;
  notes: Note[];
}

/** DESIGN.md: commands are keyed by target entity key (as on the changes topic), or by link id for a create. */
export function commandKey(cmd: WriteCommand): string {
  return cmd.action === 'create' || cmd.targetId === null
    ? cmd.linkId
    : `${cmd.platform}:${cmd.workspace}:${cmd.entityType}:${cmd.targetId}`;
}

/**
 * An entity belongs to one link. Two links naming the same entity (or one create making two
 * records) is a split that the store's index would otherwise hide; it is an error: the input is
 * dead-lettered with the reason, logged and counted, never kept silently.
 */
async function checkBindings(tx: StoreTx, r: DecideResult, before: LinkState | null): Promise<void> {
  const dup = r.notes.find((n) => n.code === 'duplicate_create');
  if (dup)
    throw new LockstepError('recording a create outcome', { category: 'conflict', cause: dup.message });
  const state = r.state;
  if (!state) return;
  for (const side of state.sides) {
    // Only a side named by this decision can clash; the others were checked when they were named.
    if (
      side.entityId === null ||
      before?.sides.some((b) => b.platform === side.platform && b.entityId === side.entityId)
    )
      continue;
    const owner = await tx.linkForEntity(state.flowId, side.platform, side.entityId);
    // The entity index has no entity type (store.ts): a Jira comment and a Jira issue can share an
    // id. A link of another kind is such a collision, not a split.
    if (owner && owner.linkId !== state.linkId && owner.kind === state.kind) {
      throw new LockstepError(
        `binding ${side.platform} ${side.entityKey ?? side.entityId} to link ${state.linkId}`,
        {
          category: 'conflict',
          cause: `it is already bound to link ${owner.linkId}`,
        },
      );
    }
  }
}

/** The change a command came from, spelled out for egress's audit log (who, where, when). */
export function eventCause(ev: ChangeEvent): Cause {
  const s = ev.source;
  return {
    kind: 'event',
    ref: ev.eventId,
    platform: s.platform,
    workspace: s.workspace,
    entityId: s.entityId,
    entityKey: s.entityKey,
    actor: s.actor,
    actorIsLockstep: s.actorIsLockstep,
    via: s.via,
    changedAtMs: s.tsMs,
  };
}

function outcomeCause(out: WriteOutcome): Cause {
  return {
    kind: 'outcome',
    ref: out.commandId,
    platform: out.platform,
    workspace: out.workspace,
    entityId: out.targetId,
    entityKey: out.targetKey,
    actor: null,
    actorIsLockstep: true,
    via: null,
    changedAtMs: out.platformTsMs,
  };
}

function resolveCause(conflictId: string, resolvedBy: string, nowMs: number): Cause {
  return {
    kind: 'resolve',
    ref: conflictId,
    platform: null,
    workspace: null,
    entityId: null,
    entityKey: null,
    actor: { email: null, platformUserId: null, displayName: resolvedBy },
    actorIsLockstep: false,
    via: null,
    changedAtMs: nowMs,
  };
}

async function record(
  tx: StoreTx,
  deps: ProcessDeps,
  decided: DecideResult,
  into: Processed,
  before: LinkState | null,
  cause: Cause,
): Promise<void> {
  // decide() names its cause by id only; the command carries it in full for the audit log.
  const r = { ...decided, commands: decided.commands.map((c) => ({ ...c, cause: c.cause ?? cause })) };
  await checkBindings(tx, r, before);
  if (r.state) await tx.saveLink(r.state);
  if (r.aside) await tx.putAside(r.aside.key, r.aside.event);
  const rows: OutboxRow[] = [
    ...r.commands.map((c): OutboxRow => ({
      topic: commandsTopic(deps.topics, c.platform),
      key: commandKey(c),
      schema: 'WriteCommand',
      payload: c,
    })),
    ...r.conflicts.map((c): OutboxRow => ({
      topic: deps.topics.conflicts,
      key: c.linkId,
      schema: 'Conflict',
      payload: c,
    })),
  ];
  await tx.enqueue(rows);
  await tx.recordConflicts(r.conflicts);
  into.commands.push(...r.commands);
  into.conflicts += r.conflicts.length;
  into.notes.push(...r.notes);
}

function flowsFor(deps: ProcessDeps, platform: string): Flow[] {
  return deps.flows.filter((f) => f.sides.some((s) => s.platform === platform));
}

export async function processChange(
  tx: StoreTx,
  deps: ProcessDeps,
  ev: ChangeEvent,
  into: Processed = { commands: [], conflicts: 0, notes: [] },
  asideReplay = false,
): Promise<Processed> {
  // A set-aside event was marked seen when it was set aside; deciding it again is the point.
  if (!asideReplay) {
    // Before anything is read: the outcome that links this entity takes the same lock, so one of
    // the two sees the other's work (store.ts lockEntity). An event taken from aside is decided
    // inside the transaction that released it, which holds what it needs already; locking again
    // there (an issue's outcome releasing its comments) could deadlock with a new comment.
    await tx.lockEntity(ev.source.platform, ev.source.entityId);
    if (await tx.seen(ev.eventId)) {
      into.notes.push({
        code: 'duplicate',
        message: `event ${ev.eventId} was already processed`,
        linkId: null,
        platform: ev.source.platform,
        field: null,
      });
      return into;
    }
    await tx.markSeen(ev.eventId);
  }
  const src = ev.source;
  for (const flow of flowsFor(deps, src.platform)) {
    const indexed = await tx.linkForEntity(flow.id, src.platform, src.entityId);
    // Our own create seen before its outcome carries the marker that names its link: bind it there.
    const named = indexed === null ? await markedLink(tx, flow, ev) : null;
    const state = indexed ?? named;
    const parent =
      state === null
        ? src.entityType === 'comment' && src.parentId !== null
          ? await tx.linkForEntity(flow.id, src.platform, src.parentId)
          : null
        : await parentLink(tx, state);
    const started = deps.flowStarts?.get(flow.id);
    const r = decide(state, ev, flow, {
      nowMs: deps.now(),
      ids: deps.ids,
      parent,
      canonicalLabel: deps.canonicalLabel,
      people: deps.people,
      ...(started !== undefined && { flowStartedAtMs: started }),
    });
    await record(tx, deps, r, into, state, eventCause(ev));
    if (named && r.state) await afterNamed(tx, deps, r.state, src.platform, into);
  }
  return into;
}

/** The link an event's create marker names, when it is this flow's and waits for that side's record. */
async function markedLink(tx: StoreTx, flow: Flow, ev: ChangeEvent): Promise<LinkState | null> {
  const src = ev.source;
  if (src.marker === null) return null;
  const link = await tx.link(src.marker);
  if (!link || link.flowId !== flow.id) return null;
  const side = link.sides.find((s) => s.platform === src.platform);
  if (!side || side.createCommandId === null) return null;
  if (side.entityId !== null && side.entityId !== src.entityId) {
    throw new LockstepError(`binding ${src.platform} ${src.entityKey ?? src.entityId} by its marker`, {
      category: 'conflict',
      cause: `link ${link.linkId} is already bound to ${side.entityKey ?? side.entityId} there: the platform holds two records of one create`,
    });
  }
  return side.entityId === null ? link : null;
}

/** A side was just named (by an outcome or a marker): decide what was waiting for it. */
async function afterNamed(
  tx: StoreTx,
  deps: ProcessDeps,
  state: LinkState,
  platform: string,
  into: Processed,
): Promise<void> {
  const named = state.sides.find((s) => s.platform === platform)?.entityId;
  if (named) {
    // Held already when the outcome named this record (processOutcome); re-entrant otherwise.
    await tx.lockEntity(platform, named);
    for (const ev of await tx.takeAside(entityAsideKey(platform, named))) {
      await processChange(tx, deps, ev, into, true);
    }
  }
  if (state.status === 'active') await releaseAside(tx, deps, state.linkId, into);
}

export async function processOutcome(
  tx: StoreTx,
  deps: ProcessDeps,
  out: WriteOutcome,
  into: Processed = { commands: [], conflicts: 0, notes: [] },
): Promise<Processed> {
  // The entity lock before the link's row lock, in the order processChange takes them (no
  // deadlock): an edit of the record this create made, set aside meanwhile, is then seen here.
  if (out.targetId !== null) await tx.lockEntity(out.platform, out.targetId);
  const state = await tx.link(out.linkId);
  const flow = state ? deps.flows.find((f) => f.id === state.flowId) : undefined;
  if (!state || !flow) {
    into.notes.push({
      code: 'not_linked',
      message: state
        ? `link ${out.linkId} belongs to flow ${state.flowId}, which is no longer configured`
        : `outcome of command ${out.commandId} for unknown link ${out.linkId}`,
      linkId: out.linkId,
      platform: out.platform,
      field: null,
    });
    return into;
  }
  const r = decide(state, out, flow, {
    nowMs: deps.now(),
    ids: deps.ids,
    parent: await parentLink(tx, state),
    canonicalLabel: deps.canonicalLabel,
    people: deps.people,
  });
  await record(tx, deps, r, into, state, outcomeCause(out));
  // The outcome may have named a new record: decide what was waiting for it.
  if (r.state) await afterNamed(tx, deps, r.state, out.platform, into);
  return into;
}

/** A comment link's issue link (commands on a comment name the issue it is under). */
async function parentLink(tx: StoreTx, state: LinkState): Promise<LinkState | null> {
  return state.parentLinkId ? tx.link(state.parentLinkId) : null;
}

/** Comments that waited for their issue's link. */
async function releaseAside(tx: StoreTx, deps: ProcessDeps, linkId: string, into: Processed): Promise<void> {
  for (const ev of await tx.takeAside(linkAsideKey(linkId))) await processChange(tx, deps, ev, into, true);
}

export type ResolveOutcome = { ok: true; processed: Processed } | { ok: false; error: string };

export async function processResolve(
  tx: StoreTx,
  deps: ProcessDeps,
  linkId: string,
  conflictId: string,
  value: FieldValue,
  resolvedBy: string,
): Promise<ResolveOutcome> {
  const state = await tx.link(linkId);
  if (!state) return { ok: false, error: `resolving conflict ${conflictId}: link ${linkId} not found` };
  const flow = deps.flows.find((f) => f.id === state.flowId);
  if (!flow)
    return { ok: false, error: `resolving conflict ${conflictId}: flow ${state.flowId} is not configured` };
  const parent = await parentLink(tx, state);
  const r = resolveConflict(
    state,
    flow,
    conflictId,
    value,
    { nowMs: deps.now(), ids: deps.ids, parent, people: deps.people },
    resolvedBy,
  );
  if (!r.ok) return r;
  const into: Processed = { commands: [], conflicts: 0, notes: [] };
  await record(
    tx,
    deps,
    { ...r, aside: null },
    into,
    state,
    resolveCause(conflictId, resolvedBy, deps.now()),
  );
  return { ok: true, processed: into };
}

/** One field of one item to put back (`lockstep rollback`): see rollbackField. */
export interface RollbackRequest {
  linkId: string;
  platform: string;
  field: SyncedField;
  /** What the platform held before Lockstep's first write in the window (its own form). */
  before: EntityState;
  /** What Lockstep's last write in the window left there. */
  after: EntityState;
  /** The audit id of that last write: names the rollback (its commands' cause and ids). */
  ref: string;
  /** Who asked (the CLI's user), for the audit log. */
  by: string;
}

export type RollbackOutcome =
  { ok: true; processed: Processed } | { ok: false; reason: RollbackRefusal | 'no_link'; error: string };

function rollbackCause(req: RollbackRequest, nowMs: number): Cause {
  return {
    kind: 'rollback',
    ref: req.ref,
    platform: req.platform,
    workspace: null,
    entityId: null,
    entityKey: null,
    actor: { email: null, platformUserId: null, displayName: req.by },
    actorIsLockstep: false,
    via: null,
    changedAtMs: nowMs,
  };
}

export async function processRollback(
  tx: StoreTx,
  deps: ProcessDeps,
  req: RollbackRequest,
): Promise<RollbackOutcome> {
  const state = await tx.link(req.linkId);
  if (!state) return { ok: false, reason: 'no_link', error: `link ${req.linkId} not found` };
  const flow = deps.flows.find((f) => f.id === state.flowId);
  if (!flow)
    return {
      ok: false,
      reason: 'no_link',
      error: `flow ${state.flowId} of link ${req.linkId} is not configured`,
    };
  const r = rollbackField(
    state,
    flow,
    req.platform,
    req.field,
    req.before,
    req.after,
    {
      nowMs: deps.now(),
      ids: deps.ids,
      parent: await parentLink(tx, state),
      canonicalLabel: deps.canonicalLabel,
      people: deps.people,
    },
    req.ref,
  );
  if (!r.ok) return r;
  const into: Processed = { commands: [], conflicts: 0, notes: [] };
  await record(tx, deps, { ...r, conflicts: [], aside: null }, into, state, rollbackCause(req, deps.now()));
  return { ok: true, processed: into };
}

export type PairOutcome =
  | { ok: true; linkId: string; processed: Processed }
  | { ok: false; reason: 'already_linked' | 'no_flow'; error: string };

function pairCause(linkId: string, by: string, nowMs: number): Cause {
  return {
    kind: 'backfill',
    ref: linkId,
    platform: null,
    workspace: null,
    entityId: null,
    entityKey: null,
    actor: { email: null, platformUserId: null, displayName: by },
    actorIsLockstep: false,
    via: 'backfill',
    changedAtMs: nowMs,
  };
}

/**
 * `lockstep backfill`: links records that already correspond (see pairLink), in the caller's
 * transaction. A record that has a link in the flow already is left (a second run, or the live
 * pipeline linked it meanwhile): pairing is idempotent.
 */
export async function processPair(
  tx: StoreTx,
  deps: ProcessDeps,
  flowId: string,
  reads: readonly ChangeEvent[],
  by: string,
): Promise<PairOutcome> {
  const flow = deps.flows.find((f) => f.id === flowId);
  if (!flow) return { ok: false, reason: 'no_flow', error: `flow ${flowId} is not configured` };
  for (const ev of reads) {
    const owner = await tx.linkForEntity(flowId, ev.source.platform, ev.source.entityId);
    if (owner)
      return {
        ok: false,
        reason: 'already_linked',
        error: `${ev.source.platform} ${ev.source.entityKey ?? ev.source.entityId} is already in link ${owner.linkId}`,
      };
  }
  const r = pairLink(flow, reads, {
    nowMs: deps.now(),
    ids: deps.ids,
    people: deps.people,
    canonicalLabel: deps.canonicalLabel,
  });
  const into: Processed = { commands: [], conflicts: 0, notes: [] };
  await record(tx, deps, r, into, null, pairCause(r.state!.linkId, by, deps.now()));
  for (const ev of reads) await tx.markSeen(ev.eventId);
  return { ok: true, linkId: r.state!.linkId, processed: into };
}
