/** Builders for the reconciler's unit tests: events, outcomes and a linked Linear ↔ Jira pair. */
import assert from 'node:assert/strict';
import type {
  ChangeEvent,
  EntityState,
  Person,
  WriteCommand,
  WriteOutcome,
} from '../../schemas/generated/types.ts';
import type { DecideContext, DecideResult } from './decide.ts';
import { decide } from './decide.ts';
import type { Flow, FlowInput } from './flow.ts';
import { flowSchema } from './flow.ts';
import { deterministicId } from './ids.ts';
import type { LinkState } from './state.ts';
import { emptyEntityState } from './values.ts';

export const ctx: DecideContext = { nowMs: 1_700_000_000_000, ids: deterministicId };

export function makeFlow(over: Partial<FlowInput> = {}): Flow {
  return flowSchema.parse({
    id: 'eng',
    sides: [
      { platform: 'linear', workspace: 'ENG' },
      { platform: 'jira', workspace: 'ENG' },
    ],
    ...over,
  });
}

type Values = Partial<Omit<EntityState, 'known'>>;

/** An EntityState that knows exactly the given fields. */
export function entity(values: Values): EntityState {
  return { ...emptyEntityState(), ...values, known: Object.keys(values) };
}

export function person(email: string | null, name = 'Ada'): Person {
  return { email, platformUserId: `${name.toLowerCase()}-id`, displayName: name };
}

let seq = 0;
export interface EventOpts {
  op?: ChangeEvent['op'];
  eventId?: string;
  lockstep?: boolean;
  /** The create marker the entity carries (Source.marker). */
  marker?: string;
  entityType?: ChangeEvent['source']['entityType'];
  parentId?: string;
  before?: Values;
  workspace?: string;
}

export function event(
  platform: string,
  entityId: string,
  tsMs: number,
  after: Values | null,
  o: EventOpts = {},
): ChangeEvent {
  seq += 1;
  return {
    eventId: o.eventId ?? `${platform}-${entityId}-${tsMs}-${seq}`,
    op: o.op ?? 'u',
    before: o.before ? entity(o.before) : null,
    after: after === null ? null : entity(after),
    source: {
      platform,
      workspace: o.workspace ?? 'ENG',
      entityType: o.entityType ?? 'issue',
      entityId,
      entityKey: null,
      parentId: o.parentId ?? null,
      via: 'webhook',
      deliveryId: null,
      actor: null,
      actorIsLockstep: o.lockstep ?? false,
      marker: o.marker ?? null,
      version: String(tsMs),
      tsMs,
    },
    changedFields: after ? Object.keys(after) : [],
    tsMs: tsMs + 5,
  };
}

export interface OutcomeOpts {
  status?: WriteOutcome['status'];
  targetId?: string;
  /** Defaults to exactly what the command asked for. */
  written?: EntityState | null;
  platformTsMs?: number | null;
  coalesced?: string[];
}

export function outcomeOf(cmd: WriteCommand, o: OutcomeOpts = {}): WriteOutcome {
  return {
    commandId: cmd.commandId,
    linkId: cmd.linkId,
    flowId: cmd.flowId,
    platform: cmd.platform,
    workspace: cmd.workspace,
    entityType: cmd.entityType,
    action: cmd.action,
    status: o.status ?? 'applied',
    targetId: o.targetId ?? cmd.targetId,
    targetKey: o.targetId ?? cmd.targetId,
    written: o.written === undefined ? cmd.fields : o.written,
    platformVersion: null,
    platformTsMs: o.platformTsMs === undefined ? null : o.platformTsMs,
    error: o.status === 'failed' ? { category: 'validation', message: 'bad field', retriable: false } : null,
    coalesced: o.coalesced ?? [],
    tsMs: ctx.nowMs,
  };
}

export const ISSUE: Values = {
  title: 'Login fails',
  description: 'Steps:\n1. open\n2. click\n3. boom',
  status: { category: 'todo', name: 'Todo' },
  priority: 'high',
  assignee: person('ada@example.com'),
  labels: ['bug'],
  dueDate: '2030-01-31',
};

/** Run decide and insist on a state (most steps in these tests have one). */
export function step(
  state: LinkState | null,
  input: ChangeEvent | WriteOutcome,
  flow: Flow,
  c = ctx,
): DecideResult & { state: LinkState } {
  const r = decide(state, input, flow, c);
  assert.ok(r.state, `expected a link state, notes: ${JSON.stringify(r.notes)}`);
  return { ...r, state: r.state };
}

/**
 * Linear issue L-1 created at t=1000 and mirrored to Jira as J-1 (create landed at t=2000).
 * Returns the active link and the create command.
 */
export function linkedPair(
  flow: Flow = makeFlow(),
  values: Values = ISSUE,
): { state: LinkState; create: WriteCommand } {
  const created = step(null, event('linear', 'L-1', 1000, values, { op: 'c' }), flow);
  const create = created.commands[0]!;
  const linked = step(created.state, outcomeOf(create, { targetId: 'J-1', platformTsMs: 2000 }), flow);
  assert.equal(linked.state.status, 'active');
  assert.deepEqual(linked.commands, []);
  return { state: linked.state, create };
}

export function only<T>(items: readonly T[]): T {
  assert.equal(items.length, 1, `expected exactly one, got ${JSON.stringify(items)}`);
  return items[0]!;
}
