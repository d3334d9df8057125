/**
 * One-record reads for `lockstep verify`: GET /tasks/{gid} and GET /stories/{gid} with the fields
 * every other read asks for (model.ts), normalized by normalizeAsana from the same ExpandedPayload
 * ingest's expand builds, so a record read here compares with what the pipeline saw. The event is
 * a read (`op: 'r'`) with the via and delivery id asked for. Asana answers 404 for a deleted task
 * (it sits in the deleter's trash, unreadable through the API) and for the stories of one.
 */
import { z } from 'zod';
import type { ChangeEvent } from '../../../schemas/generated/types.ts';
import { LockstepError } from '../../core/errors/index.ts';
import type { ConnectorDeps, EntityRef, Reader, ReadResult } from '../types.ts';
import { asanaApis } from './client.ts';
import type { AsanaConfig } from './config.ts';
import { classifyAsanaError, describeAsanaError } from './errors.ts';
import {
  asanaStorySchema,
  asanaTaskSchema,
  STORY_FIELDS,
  taskFields,
  type AsanaStory,
  type AsanaTask,
  type ExpandedPayload,
} from './model.ts';
import { normalizeAsana } from './normalize.ts';

const one = <T extends z.ZodType>(schema: T) => z.object({ data: schema });

/** The record, or the reason Asana does not have it (404). */
async function orGone<T>(p: Promise<T>): Promise<T | { gone: string }> {
  try {
    return await p;
  } catch (err) {
    if (classifyAsanaError(err).category === 'not_found') return { gone: describeAsanaError(err) };
    throw err;
  }
}
const isGone = (x: unknown): x is { gone: string } => typeof x === 'object' && x !== null && 'gone' in x;

export function createAsanaReader(deps: ConnectorDeps<AsanaConfig>): Reader {
  const cfg = deps.config;
  const now = deps.now ?? Date.now;
  const api = asanaApis(cfg, deps.budget);

  const readTask = async (gid: string) =>
    orGone<AsanaTask>(
      api.tasks
        .getTask(gid, { opt_fields: taskFields(cfg) })
        .then((r: unknown) => one(asanaTaskSchema).parse(r).data),
    );
  const readStory = async (gid: string) =>
    orGone<AsanaStory>(
      api.stories
        .getStory(gid, { opt_fields: STORY_FIELDS })
        .then((r: unknown) => one(asanaStorySchema).parse(r).data),
    );

  /** The event normalize makes of `payload` for `ref`, as a read. */
  function eventFor(ref: EntityRef, payload: ExpandedPayload, source: Parameters<Reader['read']>[1]) {
    const events = normalizeAsana(payload, {
      config: cfg,
      via: source.via,
      deliveryId: source.deliveryId,
      nowMs: now(),
      botUserId: cfg.botUserId ?? deps.botUserId,
    });
    const event = events.find(
      (e) => e.source.entityType === ref.entityType && e.source.entityId === ref.entityId,
    );
    return event ? ({ ...event, op: 'r' } satisfies ChangeEvent) : null;
  }

  const payloadOf = (tasks: AsanaTask[], stories: AsanaStory[]): ExpandedPayload => ({
    lockstepExpanded: 1,
    tasks,
    stories,
    deletedTasks: [],
    deletedStories: [],
    created: [],
    // A read names no change, so no one made it.
    actors: Object.fromEntries([...tasks, ...stories].map((r) => [r.gid, null])),
  });

  return {
    async read(ref, source): Promise<ReadResult> {
      if (ref.entityType === 'issue') {
        const task = await readTask(ref.entityId);
        if (isGone(task)) return { found: false, detail: `asana has no task ${ref.entityId}: ${task.gone}` };
        const event = eventFor(ref, payloadOf([task], []), source);
        if (!event)
          throw new LockstepError(`reading asana task ${ref.entityId}`, {
            category: 'unknown',
            cause: 'normalize made no event of it',
          });
        return { found: true, event };
      }
      if (ref.entityType === 'comment') {
        const story = await readStory(ref.entityId);
        if (isGone(story))
          return { found: false, detail: `asana has no story ${ref.entityId}: ${story.gone}` };
        if (story.type !== 'comment')
          return {
            found: false,
            detail: `asana story ${ref.entityId} is not a comment (${story.type ?? 'no type'})`,
          };
        // The task gives the comment its project (the flow side's workspace).
        const taskGid = story.target?.gid ?? ref.parentId;
        const task = taskGid ? await readTask(taskGid) : null;
        if (isGone(task))
          return { found: false, detail: `asana has no task ${taskGid}, the comment's parent: ${task.gone}` };
        const event = eventFor(ref, payloadOf(task ? [task] : [], [story]), source);
        if (!event)
          throw new LockstepError(`reading asana comment ${ref.entityId}`, {
            category: 'unknown',
            cause: 'normalize made no event of it (a Lockstep note?)',
          });
        return { found: true, event };
      }
      throw new LockstepError(`reading asana ${ref.entityType} ${ref.entityId}`, {
        category: 'validation',
        cause: `Asana has no ${ref.entityType} entities`,
      });
    },
  };
}
