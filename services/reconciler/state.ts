/**
 * The reconciler's per-link state. Serialised as JSON by the store; `version` guards the shape.
 */
import type { Conflict, EntityType } from '../../schemas/generated/types.ts';
import type { SyncedField } from './flow.ts';
import type { FieldValue } from './values.ts';

/** A write we commanded to one side for one field, not yet seen landing. */
export interface PendingWrite {
  commandId: string;
  value: FieldValue;
}

export interface SideFieldState {
  /** The flow-level value last observed on this side (absent until observed). */
  seen?: FieldValue;
  /** Platform time of that observation; older observations of this side+field are stale. */
  tsMs: number;
  version: string | null;
  /** Oldest first; egress applies commands for one target in order. */
  pending: PendingWrite[];
}

export interface FieldState {
  /** The value all sides last agreed on (flow-level). */
  base: FieldValue;
  /** Platform time of the change that set the base. */
  baseTsMs: number;
  /** The side whose change set the base; null when a merge or a person's resolution set it. */
  basePlatform: string | null;
  sides: Record<string, SideFieldState>;
  /** A manual (or overlapping merge) conflict holds the field until it is resolved. */
  held: { conflictId: string } | null;
}

export interface LinkSide {
  platform: string;
  workspace: string;
  entityType: EntityType;
  /** Null until the create's outcome names the new record. */
  entityId: string | null;
  entityKey: string | null;
  /** The create command for this side, when Lockstep created it. */
  createCommandId: string | null;
}

export type LinkStatus = 'pending' | 'active' | 'unlinked' | 'deleted';

export interface LinkState {
  version: 1;
  linkId: string;
  flowId: string;
  /** issue or comment; comment links hang off their issue's link. */
  kind: 'issue' | 'comment';
  parentLinkId: string | null;
  status: LinkStatus;
  /** In the flow's side order. */
  sides: LinkSide[];
  fields: Partial<Record<SyncedField, FieldState>>;
  openConflicts: Conflict[];
  /**
   * The last RECENT_IDS event ids and outcome keys this link processed. Dedupe lives here so
   * decide() alone is idempotent; older duplicates still change nothing, because their platform
   * time is not newer than what each side+field has seen (the store also keeps a seen table for
   * events that never reach a link).
   */
  recentEventIds: string[];
  recentOutcomes: string[];
  createdAtMs: number;
  updatedAtMs: number;
}

export const RECENT_IDS = 256;
