/**
 * The reconciler's state in memory, for simulations (`lockstep replay --dry-run`): the same
 * `StoreTx` contract as the Postgres store (store.ts), and a transaction that commits all of its
 * writes or none, as Postgres does — a decision that throws (a split link, say) leaves no trace,
 * and the caller counts the input as dead-lettered, as the reconciler would. Nothing is shared
 * with Postgres; states are cloned in and out, so a caller cannot change a stored state by keeping
 * a reference to it.
 */
import type { ChangeEvent, Conflict } from '../../schemas/generated/types.ts';
import type { LinkState } from './state.ts';
import type { OutboxRow, StoreTx } from './store.ts';

export interface MemoryStore {
  /** Runs `fn` in one transaction: its writes are kept if it resolves, dropped if it throws. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** The committed outbox rows, in the order they were enqueued. */
  readonly outbox: readonly OutboxRow[];
  /** The committed conflicts by id (the latest record of each). */
  readonly conflicts: ReadonlyMap<string, Conflict>;
  /** A committed link state (a copy), or null. */
  linkState(linkId: string): LinkState | null;
  /** How many links are stored. */
  readonly linkCount: number;
}

const entityKey = (flowId: string, platform: string, entityId: string) =>
  JSON.stringify([flowId, platform, entityId]);

interface Tables {
  seen: Set<string>;
  links: Map<string, LinkState>;
  entities: Map<string, string>;
  aside: Map<string, { eventId: string; event: ChangeEvent }[]>;
  outbox: OutboxRow[];
  conflicts: Map<string, Conflict>;
}

export function createMemoryStore(): MemoryStore {
  const t: Tables = {
    seen: new Set(),
    links: new Map(),
    entities: new Map(),
    aside: new Map(),
    outbox: [],
    conflicts: new Map(),
  };
  return {
    async transaction(fn) {
      // The transaction's own view: writes land here and are merged into `t` on success only.
      const w: Tables = {
        seen: new Set(),
        links: new Map(),
        entities: new Map(),
        aside: new Map(),
        outbox: [],
        conflicts: new Map(),
      };
      // Aside keys this transaction read (took) or wrote: their whole list lives in `w`.
      const asideTouched = new Set<string>();
      const asideOf = (key: string) => {
        if (!asideTouched.has(key)) {
          asideTouched.add(key);
          w.aside.set(key, [...(t.aside.get(key) ?? [])]);
        }
        return w.aside.get(key)!;
      };
      const readLink = (linkId: string): LinkState | null => {
        const s = w.links.get(linkId) ?? t.links.get(linkId);
        return s ? structuredClone(s) : null;
      };
      const tx: StoreTx = {
        async seen(eventId) {
          return w.seen.has(eventId) || t.seen.has(eventId);
        },
        async markSeen(eventId) {
          w.seen.add(eventId);
        },
        // One transaction at a time runs here: there is nothing to serialize with.
        async lockEntity() {},
        async linkForEntity(flowId, platform, entityId) {
          const k = entityKey(flowId, platform, entityId);
          const id = w.entities.get(k) ?? t.entities.get(k);
          return id === undefined ? null : readLink(id);
        },
        async link(linkId) {
          return readLink(linkId);
        },
        async saveLink(state) {
          w.links.set(state.linkId, structuredClone(state));
          for (const side of state.sides) {
            if (side.entityId === null) continue;
            const k = entityKey(state.flowId, side.platform, side.entityId);
            // `on conflict do nothing`, as in Postgres: the first link to name an entity keeps it.
            if (!w.entities.has(k) && !t.entities.has(k)) w.entities.set(k, state.linkId);
          }
        },
        async putAside(key, event) {
          const list = asideOf(key);
          // (aside_key, event_id) is the key of the Postgres table: a second put is a no-op.
          if (!list.some((a) => a.eventId === event.eventId))
            list.push({ eventId: event.eventId, event: structuredClone(event) });
        },
        async takeAside(key) {
          const list = asideOf(key);
          const taken = list.splice(0, list.length);
          return taken.map((a) => a.event).sort((a, b) => a.source.tsMs - b.source.tsMs);
        },
        async enqueue(rows) {
          w.outbox.push(...rows.map((r) => structuredClone(r)));
        },
        async recordConflicts(conflicts) {
          for (const c of conflicts) w.conflicts.set(c.conflictId, structuredClone(c));
        },
      };
      const out = await fn(tx);
      for (const id of w.seen) t.seen.add(id);
      for (const [id, s] of w.links) t.links.set(id, s);
      for (const [k, id] of w.entities) t.entities.set(k, id);
      for (const [k, list] of w.aside) {
        if (list.length === 0) t.aside.delete(k);
        else t.aside.set(k, list);
      }
      t.outbox.push(...w.outbox);
      for (const [id, c] of w.conflicts) t.conflicts.set(id, c);
      return out;
    },
    get outbox() {
      return t.outbox;
    },
    get conflicts() {
      return t.conflicts;
    },
    linkState(linkId) {
      const s = t.links.get(linkId);
      return s ? structuredClone(s) : null;
    },
    get linkCount() {
      return t.links.size;
    },
  };
}
