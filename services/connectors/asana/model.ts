/**
 * Asana's records as Lockstep reads them (the `opt_fields` it asks for, and their zod shapes), and
 * the payload ingest hands to normalize after `expand` fetched what a compact webhook event names.
 * Shared by expand, normalize, poll, read and apply in this folder.
 */
import { z } from 'zod';
import type { AsanaConfig } from './config.ts';

/** The task fields every read asks for (Asana returns only these, plus `gid`). */
export const TASK_FIELDS = [
  'name',
  'html_notes',
  'completed',
  'completed_at',
  'assignee.name',
  'assignee.email',
  'due_on',
  'created_at',
  'modified_at',
  'created_by.gid',
  'memberships.project.gid',
  'memberships.section.gid',
  'memberships.section.name',
  'permalink_url',
  'tags.name',
].join(',');

/** The custom field values read for priority (connectors.asana.priority). */
const PRIORITY_FIELDS = [
  'custom_fields.gid',
  'custom_fields.name',
  'custom_fields.enum_value.gid',
  'custom_fields.enum_value.name',
];

/**
 * The task fields a read asks for under `config`: TASK_FIELDS, plus the custom fields when
 * priority is configured (without it Lockstep does not read them at all).
 */
export function taskFields(config: Pick<AsanaConfig, 'priority'>): string {
  return config.priority ? [TASK_FIELDS, ...PRIORITY_FIELDS].join(',') : TASK_FIELDS;
}

/** The story fields every read asks for. */
export const STORY_FIELDS = [
  'type',
  'resource_subtype',
  'html_text',
  'text',
  'created_at',
  'created_by.name',
  'created_by.email',
  'target.gid',
].join(',');

const userRef = z.object({
  gid: z.string(),
  name: z.string().nullish(),
  email: z.string().nullish(),
});

export const asanaTaskSchema = z.object({
  gid: z.string().min(1),
  name: z.string().nullish(),
  html_notes: z.string().nullish(),
  completed: z.boolean().nullish(),
  completed_at: z.string().nullish(),
  assignee: userRef.nullish(),
  due_on: z.string().nullish(),
  created_at: z.string().nullish(),
  modified_at: z.string().nullish(),
  created_by: z.object({ gid: z.string() }).nullish(),
  memberships: z
    .array(
      z.object({
        project: z.object({ gid: z.string() }).nullish(),
        section: z.object({ gid: z.string(), name: z.string().nullish() }).nullish(),
      }),
    )
    .nullish(),
  permalink_url: z.string().nullish(),
  tags: z.array(z.object({ gid: z.string(), name: z.string().nullish() })).nullish(),
  custom_fields: z
    .array(
      z.object({
        gid: z.string(),
        name: z.string().nullish(),
        enum_value: z.object({ gid: z.string(), name: z.string().nullish() }).nullish(),
      }),
    )
    .nullish(),
});
export type AsanaTask = z.infer<typeof asanaTaskSchema>;

export const asanaStorySchema = z.object({
  gid: z.string().min(1),
  type: z.string().nullish(),
  resource_subtype: z.string().nullish(),
  html_text: z.string().nullish(),
  text: z.string().nullish(),
  created_at: z.string().nullish(),
  created_by: userRef.nullish(),
  target: z.object({ gid: z.string() }).nullish(),
});
export type AsanaStory = z.infer<typeof asanaStorySchema>;

/** A compact event as Asana delivers it (webhooks and the Events API). */
export const asanaEventSchema = z.object({
  user: z.object({ gid: z.string() }).nullish(),
  created_at: z.string().nullish(),
  action: z.string(),
  resource: z.object({
    gid: z.string(),
    resource_type: z.string(),
    resource_subtype: z.string().nullish(),
  }),
  parent: z.object({ gid: z.string(), resource_type: z.string() }).nullish(),
  change: z.object({ field: z.string().nullish(), action: z.string().nullish() }).nullish(),
});
export type AsanaEvent = z.infer<typeof asanaEventSchema>;

/**
 * What `expand` makes of a delivery and normalize reads: each task and comment story the events
 * named, as Asana holds it now (re-fetched), and the ones that no longer exist. `actors` maps a
 * record's gid to the user gid of the event that named it (the person who changed it), or null.
 */
export interface ExpandedPayload {
  lockstepExpanded: 1;
  tasks: AsanaTask[];
  stories: AsanaStory[];
  /** Tasks the events said were deleted, or that answered 404 on the re-fetch. */
  deletedTasks: string[];
  /** Comment stories deleted (with their task, when the event named it). */
  deletedStories: { gid: string; taskGid: string | null }[];
  /**
   * Tasks an `added` event newly put into a project (a create, or a task added to a project from
   * elsewhere); a task added to a section it was not in before is a move, not listed here.
   */
  created: string[];
  /**
   * Comment stories a `changed` event named (an edit of the text). Stories have no modified_at, so
   * this is the only way normalize tells an edit (op 'u') from a new comment (op 'c', the default).
   */
  editedStories?: string[];
  actors: Record<string, string | null>;
}
