/**
 * Asana's events are compact (`{user, action, resource{gid, resource_type, resource_subtype},
 * parent, change{field}}`, never the new values) and its webhooks deliver them at most once, so
 * each delivery is turned into full records here, before normalize: every task an event names is
 * re-fetched once (gids deduped across the delivery), every comment story too. A task or story
 * that answers 404 no longer exists and is reported as deleted.
 *
 * A story event also re-fetches its task: a comment belongs to the project (the flow side) of its
 * task, and the task's memberships are the only place that says which. Asana counts a new story
 * as a modification of its task (`modified_at` moves), so the task read is the task as it stands.
 * Tasks whose memberships name no configured project are dropped here, once those memberships are
 * known, and so are the stories on them (their story is not even fetched).
 *
 * What expand does not catch: a malformed record (zod) becomes a RejectedItem and the rest goes on;
 * every other error (network, 429, 401, 5xx) is thrown unchanged, so ingest answers 503 and Asana
 * retries the delivery, and `classifyError` classifies it.
 */
import { z } from 'zod';
import { LockstepError } from '../../core/errors/index.ts';
import type { RequestBudget } from '../../core/resilience/index.ts';
import type { ConnectorDeps, RejectedItem } from '../types.ts';
import { asanaApis, type AsanaApis, type SuperagentError } from './client.ts';
import type { AsanaConfig } from './config.ts';
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

/** The story subtype of a comment; every other subtype is a system story (name_changed, assigned …). */
const COMMENT_SUBTYPE = 'comment_added';

const webhookBody = z.object({ events: z.array(z.unknown()) });
const singleBody = z.object({ data: z.unknown() });

/** One record's answer: its body, or that Asana no longer has it (404). Other errors are thrown. */
type Fetched = { found: true; body: unknown } | { found: false };

function isNotFound(err: unknown): boolean {
  const e = err as SuperagentError | null;
  return (e?.status ?? e?.response?.status) === 404;
}

async function fetchRecord(call: () => Promise<unknown>): Promise<Fetched> {
  try {
    return { found: true, body: await call() };
  } catch (err) {
    if (isNotFound(err)) return { found: false };
    throw err;
  }
}

/** The record inside `{data: …}`, or the zod error that says why it is not one. */
function parseRecord<T>(
  schema: z.ZodType<T>,
  body: unknown,
): { ok: true; value: T } | { ok: false; reason: string } {
  const outer = singleBody.safeParse(body);
  const inner = schema.safeParse(outer.success ? outer.data.data : body);
  return inner.success ? { ok: true, value: inner.data } : { ok: false, reason: inner.error.message };
}

/** True when the task is in one of the configured projects (normalize reads nothing else). */
export function inConfiguredProject(task: AsanaTask, config: AsanaConfig): boolean {
  return (task.memberships ?? []).some((m) => m.project && config.projects.includes(m.project.gid));
}

interface StoryRef {
  taskGid: string | null;
  deleted: boolean;
}

/**
 * Compact events (from a webhook or the Events API) → the records they name, as Asana holds them
 * now. `actors[gid]` is the user of the last event that named the record (a story event also names
 * its task: the comment modified it).
 */
export async function expandEvents(
  apis: AsanaApis,
  config: AsanaConfig,
  events: AsanaEvent[],
): Promise<{ payload: ExpandedPayload; rejected: RejectedItem[] }> {
  const rejected: RejectedItem[] = [];
  const actors: Record<string, string | null> = {};
  const toFetch = new Set<string>();
  const deletedTasks = new Set<string>();
  const added = new Set<string>();
  const storyRefs = new Map<string, StoryRef>();
  const edited = new Set<string>();

  const touchTask = (gid: string, user: string | null): void => {
    actors[gid] = user;
    if (!deletedTasks.has(gid)) toFetch.add(gid);
  };

  for (const e of events) {
    const user = e.user?.gid ?? null;
    const { gid, resource_type: type, resource_subtype: subtype } = e.resource;
    if (type === 'task') {
      if (e.action === 'deleted') {
        actors[gid] = user;
        deletedTasks.add(gid);
        toFetch.delete(gid);
        continue;
      }
      if (e.action === 'undeleted') deletedTasks.delete(gid);
      // `added` under a section is a move between sections (or into one); under a project (or with
      // no parent) the task is new to that project.
      if (e.action === 'added' && e.parent?.resource_type !== 'section') added.add(gid);
      touchTask(gid, user);
    } else if (type === 'story') {
      // System stories (name_changed, section_changed …) describe task changes that come as task
      // events of their own; only comments are synced.
      if (subtype && subtype !== COMMENT_SUBTYPE) continue;
      const taskGid = e.parent?.resource_type === 'task' ? e.parent.gid : null;
      storyRefs.set(gid, { taskGid, deleted: e.action === 'deleted' });
      if (e.action === 'changed') edited.add(gid);
      actors[gid] = user;
      if (taskGid) touchTask(taskGid, user);
    }
  }

  const tasks: AsanaTask[] = [];
  const outside = new Set<string>();
  const taskAnswers = await Promise.all(
    [...toFetch].map(async (gid) => ({
      gid,
      res: await fetchRecord(() => apis.tasks.getTask(gid, { opt_fields: taskFields(config) })),
    })),
  );
  for (const { gid, res } of taskAnswers) {
    if (!res.found) {
      deletedTasks.add(gid);
      continue;
    }
    const parsed = parseRecord(asanaTaskSchema, res.body);
    if (!parsed.ok) {
      rejected.push({ id: gid, raw: res.body, reason: `reading asana task ${gid}: ${parsed.reason}` });
      continue;
    }
    if (inConfiguredProject(parsed.value, config)) tasks.push(parsed.value);
    else outside.add(gid);
  }

  const stories: AsanaStory[] = [];
  const deletedStories: ExpandedPayload['deletedStories'] = [];
  const wanted = [...storyRefs].filter(
    ([, ref]) => ref.taskGid === null || (!outside.has(ref.taskGid) && !deletedTasks.has(ref.taskGid)),
  );
  const storyAnswers = await Promise.all(
    wanted.map(async ([gid, ref]) => ({
      gid,
      ref,
      res: ref.deleted
        ? ({ found: false } as const)
        : await fetchRecord(() => apis.stories.getStory(gid, { opt_fields: STORY_FIELDS })),
    })),
  );
  for (const { gid, ref, res } of storyAnswers) {
    if (!res.found) {
      deletedStories.push({ gid, taskGid: ref.taskGid });
      continue;
    }
    const parsed = parseRecord(asanaStorySchema, res.body);
    if (!parsed.ok) {
      rejected.push({ id: gid, raw: res.body, reason: `reading asana story ${gid}: ${parsed.reason}` });
      continue;
    }
    // An event without a subtype may still name a system story: the story's own type decides.
    if (parsed.value.type !== 'comment') continue;
    stories.push(parsed.value);
  }

  const kept = new Set(tasks.map((t) => t.gid));
  return {
    payload: {
      lockstepExpanded: 1,
      tasks,
      stories,
      deletedTasks: [...deletedTasks],
      deletedStories,
      created: [...added].filter((gid) => kept.has(gid)),
      editedStories: stories.filter((s) => edited.has(s.gid)).map((s) => s.gid),
      actors,
    },
    rejected,
  };
}

/** One metered client per config and budget, so the concurrency gates hold across deliveries. */
const clients = new WeakMap<AsanaConfig, WeakMap<object, AsanaApis>>();
const UNMETERED = {};

function apisFor(config: AsanaConfig, budget: RequestBudget | undefined): AsanaApis {
  let byBudget = clients.get(config);
  if (!byBudget) clients.set(config, (byBudget = new WeakMap()));
  const key = budget ?? UNMETERED;
  let apis = byBudget.get(key);
  if (!apis) byBudget.set(key, (apis = asanaApis(config, budget)));
  return apis;
}

/**
 * A verified webhook body (`{events: […]}`) → the ExpandedPayload normalize reads. Asana's
 * heartbeat (`{events: []}`) is passed through unchanged. A body that is not `{events: [...]}`
 * throws LockstepError('validation'); a malformed event is rejected and the rest goes on.
 */
export async function expandWebhook(
  payload: unknown,
  deps: ConnectorDeps<AsanaConfig>,
): Promise<{ payload: unknown; rejected: RejectedItem[] }> {
  const body = webhookBody.safeParse(payload);
  if (!body.success)
    throw new LockstepError('expanding an asana webhook', {
      category: 'validation',
      cause: 'the body is not {events: [...]}',
    });
  if (body.data.events.length === 0) return { payload, rejected: [] };
  const events: AsanaEvent[] = [];
  const rejected: RejectedItem[] = [];
  for (const raw of body.data.events) {
    const parsed = asanaEventSchema.safeParse(raw);
    if (parsed.success) events.push(parsed.data);
    else
      rejected.push({
        id: eventResourceGid(raw),
        raw,
        reason: `reading an asana event: ${parsed.error.message}`,
      });
  }
  const expanded = await expandEvents(apisFor(deps.config, deps.budget), deps.config, events);
  return { payload: expanded.payload, rejected: [...rejected, ...expanded.rejected] };
}

const withGid = z.object({ gid: z.string() });

/** The `gid` of a raw record, when it has a string one. */
export function rawGid(raw: unknown): string | null {
  const r = withGid.safeParse(raw);
  return r.success ? r.data.gid : null;
}

/** `resource.gid` of a raw event, when it has a string one. */
export function eventResourceGid(raw: unknown): string | null {
  const r = z.object({ resource: withGid }).safeParse(raw);
  return r.success ? r.data.resource.gid : null;
}
