/**
 * The safety net under Asana's at-most-once webhooks: the Events API per configured project,
 * `GET /events?resource=<project>&sync=<token>`, ≤ 100 compact events a call with `has_more`,
 * turned into full records by the same `expandEvents` as a webhook delivery.
 *
 * A sync token is handed out by a 412: on the first poll of a project (no token yet) and whenever
 * a token expired ("always after 24 hours, but may expire sooner"). A 412 means the events since
 * the old token are gone, so the project is read in full instead: `GET /tasks?project=…&
 * modified_since=<since>` (plus each of those tasks' comment stories), then the fresh token is
 * kept. The fresh token is taken BEFORE the full read, so a change made during the read shows up
 * in one or both and none is lost; what both show has one eventId.
 *
 * `since` is the lower bound of such a full read: `config.pollSince` for a project polled for the
 * first time, else the cursor's `since`. It moves to this poll's start minus `POLL_OVERLAP_MS`
 * only once the poll is complete for every project (each token's events read to the end, or the
 * project read in full): the tokens then stand after that moment, so a later 412 re-reads from a
 * point no token had passed. The overlap covers clock skew between Lockstep and Asana's
 * `modified_at`. Full reads are rare and finish within one poll (next_page offsets expire, so a
 * half-done full read is not resumed); events are read exactly once, so no seen-set is kept: a
 * re-read record has the same version and eventId, which the reconciler dedupes.
 *
 * Deleted tasks are not visible to a full read (`GET /tasks` lists existing tasks only): a task
 * deleted while its token had expired arrives by webhook only.
 */
import { z } from 'zod';
import type { ChangeEvent } from '../../../schemas/generated/types.ts';
import { LockstepError } from '../../core/errors/index.ts';
import {
  isBadItem,
  type ConnectorDeps,
  type JsonValue,
  type NormalizeContext,
  type Poller,
  type PollResult,
  type RejectedItem,
} from '../types.ts';
import { asanaApis, type SuperagentError } from './client.ts';
import type { AsanaConfig } from './config.ts';
import { eventResourceGid, expandEvents, rawGid } from './expand.ts';
import {
  asanaEventSchema,
  asanaStorySchema,
  asanaTaskSchema,
  STORY_FIELDS,
  taskFields,
  type AsanaEvent,
  type AsanaStory,
  type AsanaTask,
  type ExpandedPayload,
} from './model.ts';
import { normalizeAsana } from './normalize.ts';

/** A full read starts this far before the previous poll's start (clock skew against `modified_at`). */
export const POLL_OVERLAP_MS = 2 * 60_000;
/** Events pages (of ≤ 100) per project and poll; the token resumes the walk on the next poll. */
const MAX_EVENT_PAGES = 20;
/** Stories per page of a task's stories (Asana: 1–100). */
const STORY_PAGE = 100;

const cursorSchema = z.object({
  /** Project gid → the Events API sync token to resume from. */
  sync: z.record(z.string(), z.string()),
  /** Lower bound (ISO) of the next full read of a project whose token expired. */
  since: z.iso.datetime({ offset: true }),
});
export type AsanaCursor = z.infer<typeof cursorSchema>;

const listPage = z.object({
  data: z.array(z.unknown()),
  next_page: z.object({ offset: z.string() }).nullish(),
});
const eventsPage = z.object({
  data: z.array(z.unknown()),
  sync: z.string(),
  has_more: z.boolean().nullish(),
});
const preconditionBody = z.object({ sync: z.string() });

/**
 * The whole body of a list answer. The SDK wraps list answers in a Collection and keeps the body
 * (with `next_page`, or the Events API's `sync` and `has_more`) in `_response`, as its README's
 * "Getting events" reads it; with `RETURN_COLLECTION = false` it resolves to the body itself.
 */
function bodyOf(res: unknown): unknown {
  return typeof res === 'object' && res !== null && '_response' in res
    ? (res as { _response: unknown })._response
    : res;
}

/** The fresh sync token of a 412 answer, or null for any other error. */
function freshSyncToken(err: unknown): string | null {
  const e = err as SuperagentError | null;
  if ((e?.status ?? e?.response?.status) !== 412) return null;
  const body = preconditionBody.safeParse(e?.response?.body);
  return body.success ? body.data.sync : null;
}

function parseList(what: string, res: unknown): z.infer<typeof listPage> {
  const page = listPage.safeParse(bodyOf(res));
  if (!page.success)
    throw new LockstepError(`polling asana ${what}`, { category: 'validation', cause: page.error.message });
  return page.data;
}

const reason = (err: z.ZodError, what: string) => `reading asana ${what}: ${err.message}`;

export function createAsanaPoller(deps: ConnectorDeps<AsanaConfig>): Poller {
  const cfg = deps.config;
  const now = deps.now ?? Date.now;
  const apis = asanaApis(cfg, deps.budget);

  /** The project's events after `token`; `expired` when Asana answered 412 (token: the fresh one). */
  async function readEvents(
    project: string,
    token: string | undefined,
  ): Promise<{ raw: unknown[]; token: string; expired: boolean; complete: boolean }> {
    const raw: unknown[] = [];
    let sync = token;
    for (let i = 0; i < MAX_EVENT_PAGES; i++) {
      let res: unknown;
      try {
        res = await apis.events.getEvents(project, sync === undefined ? {} : { sync });
      } catch (err) {
        const fresh = freshSyncToken(err);
        if (fresh === null) throw err;
        return { raw, token: fresh, expired: true, complete: true };
      }
      const page = eventsPage.safeParse(bodyOf(res));
      if (!page.success)
        throw new LockstepError('polling asana events', {
          category: 'validation',
          cause: page.error.message,
        });
      raw.push(...page.data.data);
      sync = page.data.sync;
      if (!page.data.has_more) return { raw, token: sync, expired: false, complete: true };
    }
    return { raw, token: sync!, expired: false, complete: false };
  }

  async function commentsOf(task: string, reject: (r: RejectedItem) => void): Promise<AsanaStory[]> {
    const out: AsanaStory[] = [];
    let offset: string | undefined;
    do {
      const page = parseList(
        `stories of task ${task}`,
        await apis.stories.getStoriesForTask(task, {
          opt_fields: STORY_FIELDS,
          limit: STORY_PAGE,
          ...(offset && { offset }),
        }),
      );
      for (const node of page.data) {
        const s = asanaStorySchema.safeParse(node);
        if (!s.success)
          reject({ id: rawGid(node), raw: node, reason: reason(s.error, `a story of task ${task}`) });
        else if (s.data.type === 'comment') out.push(s.data);
      }
      offset = page.next_page?.offset;
    } while (offset);
    return out;
  }

  /** Every task of the project modified since `since`, and their comment stories. */
  async function fullRead(
    project: string,
    since: string,
    reject: (r: RejectedItem) => void,
  ): Promise<{ tasks: AsanaTask[]; stories: AsanaStory[] }> {
    const tasks: AsanaTask[] = [];
    let offset: string | undefined;
    do {
      const page = parseList(
        `tasks of project ${project}`,
        await apis.tasks.getTasks({
          project,
          modified_since: since,
          opt_fields: taskFields(cfg),
          limit: cfg.pageSize,
          ...(offset && { offset }),
        }),
      );
      for (const node of page.data) {
        const t = asanaTaskSchema.safeParse(node);
        if (t.success) tasks.push(t.data);
        else reject({ id: rawGid(node), raw: node, reason: reason(t.error, 'a task') });
      }
      offset = page.next_page?.offset;
    } while (offset);
    const stories = (await Promise.all(tasks.map((t) => commentsOf(t.gid, reject)))).flat();
    return { tasks, stories };
  }

  return {
    async poll(raw: JsonValue | null): Promise<PollResult> {
      const startMs = now();
      let c: AsanaCursor;
      if (raw === null) c = { sync: {}, since: cfg.pollSince };
      else {
        const parsed = cursorSchema.safeParse(raw);
        if (!parsed.success)
          throw new LockstepError('reading the asana poll cursor', {
            category: 'validation',
            cause: parsed.error.message,
          });
        c = parsed.data;
      }
      const rejected: RejectedItem[] = [];
      const reject = (r: RejectedItem): void => void rejected.push(r);
      const events: AsanaEvent[] = [];
      const read = { tasks: new Map<string, AsanaTask>(), stories: new Map<string, AsanaStory>() };
      const sync: Record<string, string> = {};
      let caughtUp = true;
      // Projects one after the other: each may end in a full read, which fans out itself.
      for (const project of cfg.projects) {
        const had = c.sync[project];
        const r = await readEvents(project, had);
        sync[project] = r.token;
        for (const node of r.raw) {
          const e = asanaEventSchema.safeParse(node);
          if (e.success) events.push(e.data);
          else reject({ id: eventResourceGid(node), raw: node, reason: reason(e.error, 'an event') });
        }
        if (r.expired) {
          // A project never polled starts at pollSince; one whose token expired at the last complete poll.
          const full = await fullRead(project, had === undefined ? cfg.pollSince : c.since, reject);
          for (const t of full.tasks) read.tasks.set(t.gid, t);
          for (const s of full.stories) read.stories.set(s.gid, s);
        } else if (!r.complete) caughtUp = false;
      }

      const expanded = await expandEvents(apis, cfg, events);
      rejected.push(...expanded.rejected);
      const payload = merge(read, expanded.payload);
      const ctx: NormalizeContext<AsanaConfig> = {
        config: cfg,
        via: 'poll',
        deliveryId: null,
        nowMs: startMs,
        botUserId: cfg.botUserId ?? deps.botUserId,
      };
      const normalized = normalizeEach(payload, ctx);
      rejected.push(...normalized.rejected);
      const since = caughtUp
        ? new Date(Math.max(Date.parse(c.since), startMs - POLL_OVERLAP_MS)).toISOString()
        : c.since;
      return {
        events: normalized.events.sort((a, b) => a.source.tsMs - b.source.tsMs),
        cursor: { sync, since },
        caughtUp,
        rejected,
      };
    },
  };
}

/**
 * The full reads' records with the expanded events' on top (those were fetched last, so they are
 * the newest); a record the events found deleted is dropped. In a full read the actor of a comment
 * is its author (only the author edits an Asana comment); a task's is unknown.
 */
function merge(
  read: { tasks: Map<string, AsanaTask>; stories: Map<string, AsanaStory> },
  expanded: ExpandedPayload,
): ExpandedPayload {
  const tasks = new Map(read.tasks);
  const stories = new Map(read.stories);
  const actors: Record<string, string | null> = {};
  for (const s of stories.values()) actors[s.gid] = s.created_by?.gid ?? null;
  for (const t of expanded.tasks) tasks.set(t.gid, t);
  for (const s of expanded.stories) stories.set(s.gid, s);
  for (const gid of expanded.deletedTasks) tasks.delete(gid);
  for (const s of expanded.deletedStories) stories.delete(s.gid);
  return {
    ...expanded,
    tasks: [...tasks.values()],
    stories: [...stories.values()],
    actors: { ...actors, ...expanded.actors },
  };
}

/**
 * normalize over the whole payload; when it refuses one record (a bad item), record by record, so
 * that record is rejected and the poller goes on. A story is normalized with its task beside it
 * (its project is the task's), and only the story's own events are kept from that.
 */
function normalizeEach(
  payload: ExpandedPayload,
  ctx: NormalizeContext<AsanaConfig>,
): { events: ChangeEvent[]; rejected: RejectedItem[] } {
  try {
    return { events: normalizeAsana(payload, ctx), rejected: [] };
  } catch (err) {
    if (!isBadItem(err)) throw err;
  }
  const none: ExpandedPayload = { ...payload, tasks: [], stories: [], deletedTasks: [], deletedStories: [] };
  const byGid = new Map(payload.tasks.map((t) => [t.gid, t]));
  const parts: { id: string; raw: unknown; part: ExpandedPayload }[] = [
    ...payload.tasks.map((t) => ({ id: t.gid, raw: t, part: { ...none, tasks: [t] } })),
    ...payload.deletedTasks.map((gid) => ({ id: gid, raw: gid, part: { ...none, deletedTasks: [gid] } })),
    ...payload.stories.map((s) => {
      const task = s.target ? byGid.get(s.target.gid) : undefined;
      return { id: s.gid, raw: s, part: { ...none, tasks: task ? [task] : [], stories: [s] } };
    }),
    ...payload.deletedStories.map((d) => {
      const task = d.taskGid ? byGid.get(d.taskGid) : undefined;
      return { id: d.gid, raw: d, part: { ...none, tasks: task ? [task] : [], deletedStories: [d] } };
    }),
  ];
  const events: ChangeEvent[] = [];
  const rejected: RejectedItem[] = [];
  for (const { id, raw, part } of parts) {
    try {
      events.push(...normalizeAsana(part, ctx).filter((e) => e.source.entityId === id));
    } catch (err) {
      if (!isBadItem(err)) throw err;
      rejected.push({ id, raw, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  return { events, rejected };
}
