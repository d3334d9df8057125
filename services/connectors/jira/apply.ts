/**
 * WriteCommand → jira.js (Version3Client).
 * - Status changes ONLY through transitions: GET transitions, pick the one whose `to` status
 *   matches (by name, else by category), POST it. Jira refuses `fields.status` on edit.
 * - Descriptions and comment bodies are sent as ADF objects: given a string, jira.js makes an extra
 *   GET and converts it itself (PLATFORMS.md §1).
 * - Create markers are the entity property `lockstep.link` = {id: marker}, set in the create call
 *   itself so there is no window between the entity and its marker.
 * - A lost create is found without JQL over the property: on Jira Cloud that finds only properties
 *   an app's entity-property module indexes (an API-token client has none), and search lags
 *   writes. See findIssueByMarker.
 */
import { HttpException, type Version3Client } from 'jira.js';
import { z } from 'zod';
import type { EntityState, Person, WriteCommand } from '../../../schemas/generated/types.ts';
import { LockstepError } from '../../core/errors/index.ts';
import {
  fieldsToWrite,
  sameFieldValue,
  staleFields,
  type Applier,
  type ApplyResult,
  type ConnectorDeps,
  type FoundTarget,
  type ItemNote,
  type MarkerQuery,
  type PostedNote,
  type SkippedField,
} from '../types.ts';
import type { JiraConfig } from './config.ts';
import {
  commentState,
  issueState,
  jiraComment,
  jiraIssue,
  jiraStatus,
  markdownToAdf,
  MARKER_PROPERTY,
  markerOf,
} from './normalize.ts';
import { jiraLabels } from './labels.ts';
import { noteCreateMarker } from '../kit/notes.ts';
import { noteAdf } from './notes.ts';
import { ISSUE_FIELDS, jiraClient, jqlDate } from './poll.ts';

/** 7 of ENG-7. */
function keyNumber(key: string): number {
  const n = Number(key.slice(key.lastIndexOf('-') + 1));
  return Number.isInteger(n) ? n : 0;
}

export { MARKER_PROPERTY };
const markerProperty = (marker: string) => [{ key: MARKER_PROPERTY, value: { id: marker } }];

/** Jira's clock may differ from the reconciler's that stamped the command: look this much earlier. */
const CLOCK_SKEW_MS = 10 * 60_000;
/** Without a command time, how far back the lost-create search looks. */
const DEFAULT_LOOKBACK_MS = 24 * 60 * 60_000;
/** Keys past the newest searchable one are read until this many in a row do not exist (deleted ones leave gaps). */
const KEY_MISSES = 2;

const markedIssue = z.object({
  id: z.string(),
  key: z.string(),
  properties: z.record(z.string(), z.unknown()).nullish(),
});
const markedIssues = z.object({
  issues: z.array(markedIssue).default([]),
  nextPageToken: z.string().nullish(),
});

const transitions = z.object({
  transitions: z
    .array(
      z.object({
        id: z.string(),
        to: z.object({ name: z.string(), statusCategory: z.object({ key: z.string() }).nullish() }),
      }),
    )
    .default([]),
});

export function createJiraApplier(deps: ConnectorDeps<JiraConfig>): Applier {
  const cfg = deps.config;
  const client: Version3Client = jiraClient(cfg, deps.budget);

  async function readIssue(id: string) {
    return jiraIssue.parse(await client.issues.getIssue({ issueIdOrKey: id, fields: ISSUE_FIELDS }));
  }

  async function issueResult(
    id: string,
    skipped: SkippedField[],
    alreadyApplied: boolean,
    before: EntityState | null = null,
  ): Promise<ApplyResult> {
    const i = await readIssue(id);
    return {
      before,
      targetId: i.id,
      targetKey: i.key,
      written: issueState(cfg, i),
      platformVersion: i.fields.updated,
      platformTsMs: Date.parse(i.fields.updated),
      alreadyApplied,
      skipped,
    };
  }

  async function resolveAccountId(email: string): Promise<string | null> {
    const users = z
      .array(z.object({ accountId: z.string(), emailAddress: z.string().nullish() }))
      .parse(await client.userSearch.findUsers({ query: email }));
    // Email visibility depends on each user's profile settings: trust an exact match, or a single hit.
    const exact = users.find((u) => u.emailAddress?.toLowerCase() === email.toLowerCase());
    return exact?.accountId ?? (users.length === 1 ? users[0]!.accountId : null);
  }

  /**
   * The account to assign: the command's account id (a `people:` override, for people whose
   * profile hides their email) when it exists, else the email's. Checked first, so a wrong id in
   * the configuration costs one unassigned field, not a rejected write.
   */
  async function assigneeAccount(p: Person): Promise<{ accountId: string } | { detail: string }> {
    if (p.platformUserId) {
      const users = z
        .array(z.object({ accountId: z.string() }))
        .parse(await client.userSearch.findUsers({ accountId: p.platformUserId }));
      return users.some((u) => u.accountId === p.platformUserId)
        ? { accountId: p.platformUserId }
        : { detail: `no Jira account ${p.platformUserId} (given by people)` };
    }
    const accountId = p.email ? await resolveAccountId(p.email) : null;
    return accountId
      ? { accountId }
      : {
          // Jira's user search does not match an email the user's profile visibility hides, so
          // "nobody" may well be someone who hides it: only their account id can name them.
          detail: p.email
            ? `no Jira user shows the email ${p.email} (Jira's user search does not find a user by an email their profile visibility hides); add a people override with their Jira account id`
            : `no email to look up in Jira and no Jira account id given; add a people override with their Jira account id`,
        };
  }

  /** EntityState fields (except status) → the `fields` body of create/edit. */
  async function fieldsBody(f: EntityState, write: string[]) {
    const body: Record<string, unknown> = {};
    const skipped: SkippedField[] = [];
    for (const field of write) {
      switch (field) {
        case 'title':
          body.summary = f.title ?? '';
          break;
        case 'description':
          body.description = f.description ? markdownToAdf(f.description) : null;
          break;
        case 'priority': {
          const name = cfg.priorities.toJira[f.priority ?? 'none'];
          if (name) body.priority = { name };
          else
            skipped.push({
              field,
              reason: 'unresolvable',
              detail: `no Jira priority configured for ${f.priority ?? 'none'}`,
            });
          break;
        }
        case 'labels':
          // Jira labels cannot contain spaces: `needs review` is written as `needs_review` (labels.ts).
          body.labels = jiraLabels(f.labels ?? []);
          break;
        case 'dueDate':
          body.duedate = f.dueDate;
          break;
        case 'assignee': {
          if (f.assignee === null) {
            body.assignee = null;
            break;
          }
          const account = await assigneeAccount(f.assignee);
          if ('accountId' in account) body.assignee = { accountId: account.accountId };
          else skipped.push({ field, reason: 'unresolvable', detail: account.detail });
          break;
        }
        default:
          break;
      }
    }
    return { body, skipped };
  }

  async function transition(
    issueId: string,
    status: NonNullable<EntityState['status']>,
  ): Promise<SkippedField | null> {
    const t = transitions.parse(await client.issues.getTransitions({ issueIdOrKey: issueId }));
    const candidates = t.transitions.filter(
      (x) => jiraStatus(cfg, x.to.name, x.to.statusCategory?.key ?? null)?.category === status.category,
    );
    const pick =
      candidates.find((x) => x.to.name.toLowerCase() === status.name.toLowerCase()) ?? candidates[0];
    if (!pick)
      return {
        field: 'status',
        reason: 'unresolvable',
        detail: `no transition from the current status to a ${status.category} status`,
      };
    await client.issues.doTransition({ issueIdOrKey: issueId, transition: { id: pick.id } });
    return null;
  }

  /**
   * A lost create, found the way Jira Cloud allows: the issues created in the project since the
   * command (newest first, `properties=lockstep.link` so each candidate's marker comes along), and
   * then, because search lags writes, the keys after the newest one search knows, read one by one
   * (a read by key is always current) until KEY_MISSES in a row do not exist. Keys are sequential
   * per project, so an issue created during the lag is one of those.
   */
  async function findIssueByMarker(q: MarkerQuery): Promise<FoundTarget | null> {
    const projects = q.workspace ? [q.workspace] : cfg.projects;
    const since =
      q.createdAfterMs != null ? q.createdAfterMs - CLOCK_SKEW_MS : Date.now() - DEFAULT_LOOKBACK_MS;
    const from = jqlDate(Math.max(0, since), cfg.jqlTimeZone);
    for (const project of projects) {
      let newest = 0;
      let nextPageToken: string | null = null;
      for (let page = 0; page < 100; page++) {
        const res = markedIssues.parse(
          await client.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
            jql: `project = "${project}" AND created >= "${from}" ORDER BY created DESC`,
            fields: ['created'],
            properties: [MARKER_PROPERTY],
            maxResults: 100,
            ...(nextPageToken && { nextPageToken }),
          }),
        );
        for (const i of res.issues) {
          if (markerOf(i.properties) === q.marker) return { targetId: i.id, targetKey: i.key };
          newest = Math.max(newest, keyNumber(i.key));
        }
        nextPageToken = res.nextPageToken ?? null;
        if (!nextPageToken) break;
      }
      if (newest === 0) {
        // Nothing searchable created since: start after the newest issue search knows at all.
        const last = markedIssues.parse(
          await client.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
            jql: `project = "${project}" ORDER BY created DESC`,
            fields: ['created'],
            maxResults: 1,
          }),
        ).issues[0];
        newest = last ? keyNumber(last.key) : 0;
      }
      for (let n = newest + 1, misses = 0; misses < KEY_MISSES; n++) {
        const i = await issueOrNull(`${project}-${n}`);
        if (!i) {
          misses++;
          continue;
        }
        misses = 0;
        if (markerOf(i.properties) === q.marker) return { targetId: i.id, targetKey: i.key };
      }
    }
    return null;
  }

  async function issueOrNull(key: string) {
    try {
      return markedIssue.parse(
        await client.issues.getIssue({
          issueIdOrKey: key,
          fields: ['created'],
          properties: [MARKER_PROPERTY],
        }),
      );
    } catch (err) {
      if (err instanceof HttpException && err.status === 404) return null;
      throw err;
    }
  }

  async function findByMarker(q: MarkerQuery): Promise<FoundTarget | null> {
    if (q.entityType === 'issue') return findIssueByMarker(q);
    if (q.entityType === 'comment' && q.parentId) {
      // Comments have no JQL, and GET …/comment expands only renderedBody (swagger): list the
      // parent's comment ids, then read their properties with POST /comment/list?expand=properties.
      const withProps = z.object({
        values: z
          .array(
            z.object({
              id: z.string(),
              properties: z.array(z.object({ key: z.string(), value: z.unknown() })).optional(),
            }),
          )
          .default([]),
      });
      for (let startAt = 0; ;) {
        const page = z
          .object({ comments: z.array(z.object({ id: z.string() })), total: z.number().optional() })
          .parse(
            await client.issueComments.getComments({ issueIdOrKey: q.parentId, startAt, maxResults: 100 }),
          );
        if (page.comments.length === 0) return null;
        const ids = page.comments.map((c) => Number(c.id));
        const detailed = withProps.parse(
          await client.issueComments.getCommentsByIds({ ids, expand: 'properties' }),
        );
        const hit = detailed.values.find((c) =>
          c.properties?.some(
            (p) =>
              p.key === MARKER_PROPERTY &&
              z.object({ id: z.string() }).safeParse(p.value).data?.id === q.marker,
          ),
        );
        if (hit) return { targetId: hit.id, targetKey: null };
        startAt += page.comments.length;
        if (startAt >= (page.total ?? startAt)) return null;
      }
    }
    return null;
  }

  /** The transition after a create; a failure is a skipped field (`follow_up_failed`), not the create's. */
  async function statusAfterCreate(
    id: string,
    key: string | null,
    status: NonNullable<EntityState['status']>,
    skipped: SkippedField[],
  ): Promise<void> {
    try {
      const s = await transition(id, status);
      if (s) skipped.push(s);
    } catch (err) {
      skipped.push({
        field: 'status',
        reason: 'follow_up_failed',
        detail: `transitioning ${key ?? id} after its create: ${errorText(err)}`,
      });
    }
  }

  async function applyIssue(cmd: WriteCommand): Promise<ApplyResult> {
    if (cmd.action === 'create') {
      if (!cmd.marker)
        throw new LockstepError(`applying ${cmd.commandId} to jira`, {
          category: 'validation',
          cause: 'a create needs a marker',
        });
      const found = await findByMarker({
        marker: cmd.marker,
        entityType: 'issue',
        parentId: null,
        workspace: cmd.workspace,
        createdAfterMs: cmd.createdAtMs,
      });
      if (found) {
        // The answer lost may have been the create's, before its transition ran: finish it, or
        // the issue stays in the workflow's first status (and the outcome says so).
        const followUp: SkippedField[] = [];
        if (cmd.fields.known.includes('status') && cmd.fields.status) {
          const now = issueState(cfg, await readIssue(found.targetId));
          if (!sameFieldValue('status', now, cmd.fields))
            await statusAfterCreate(found.targetId, found.targetKey, cmd.fields.status, followUp);
        }
        return issueResult(found.targetId, followUp, true);
      }
      const { body, skipped } = await fieldsBody(cmd.fields, cmd.fields.known);
      const created = z.object({ id: z.string(), key: z.string().nullish() }).parse(
        await client.issues.createIssue({
          fields: {
            ...body,
            summary: cmd.fields.title ?? '',
            project: { key: cmd.workspace },
            issuetype: { name: cfg.issueType },
          },
          properties: markerProperty(cmd.marker),
        }),
      );
      // The issue exists from here on. A failure of the transition or the read-back must not fail
      // the command: egress would retry a write that was made, or dead-letter it and orphan the
      // issue. Such a field is reported as skipped (`follow_up_failed`) and the create succeeds.
      if (cmd.fields.known.includes('status') && cmd.fields.status)
        await statusAfterCreate(created.id, created.key ?? null, cmd.fields.status, skipped);
      try {
        return await issueResult(created.id, skipped, false);
      } catch (err) {
        // What the create call itself set, in Jira's spelling: the fields it carried, less those it
        // could not set. The next webhook or poll brings the issue as Jira holds it.
        const notSet = new Set(skipped.map((f) => f.field));
        const sent = inJiraSpelling(cmd).fields;
        return {
          targetId: created.id,
          targetKey: created.key ?? null,
          written: { ...sent, known: sent.known.filter((f) => !notSet.has(f)) },
          platformVersion: null,
          platformTsMs: null,
          alreadyApplied: false,
          skipped: [
            ...skipped,
            {
              field: '*',
              reason: 'follow_up_failed',
              detail: `reading ${created.key ?? created.id} back after its create: ${errorText(err)}`,
            },
          ],
        };
      }
    }
    const targetId = required(cmd);
    if (cmd.action === 'delete') {
      await client.issues.deleteIssue({ issueIdOrKey: targetId });
      return {
        targetId,
        targetKey: null,
        written: null,
        platformVersion: null,
        platformTsMs: null,
        alreadyApplied: false,
        skipped: [],
      };
    }
    const current = issueState(cfg, await readIssue(targetId));
    // Compared in Jira's spelling: an issue holding `needs_review` holds the command's `needs review`.
    const asHeld = inJiraSpelling(cmd);
    const stale = staleFields(asHeld, current);
    const write = fieldsToWrite(asHeld, current, stale);
    const { body, skipped } = await fieldsBody(cmd.fields, write);
    if (Object.keys(body).length > 0) await client.issues.editIssue({ issueIdOrKey: targetId, fields: body });
    if (
      write.includes('status') &&
      cmd.fields.status &&
      current.status?.category !== cmd.fields.status.category
    ) {
      const s = await transition(targetId, cmd.fields.status);
      if (s) skipped.push(s);
    }
    // Nothing left to write and nothing refused: the target already holds every value (a repeat).
    return issueResult(targetId, [...stale, ...skipped], write.length === 0 && stale.length === 0, current);
  }

  async function applyComment(cmd: WriteCommand): Promise<ApplyResult> {
    const parentId = cmd.parentId;
    if (!parentId)
      throw new LockstepError(`applying ${cmd.commandId} to jira`, {
        category: 'validation',
        cause: 'a comment command needs a parentId',
      });
    const result = (
      raw: unknown,
      skipped: SkippedField[],
      alreadyApplied: boolean,
      before: EntityState | null = null,
    ): ApplyResult => {
      const c = jiraComment.parse(raw);
      return {
        before,
        targetId: c.id,
        targetKey: null,
        written: commentState(c),
        platformVersion: c.updated,
        platformTsMs: Date.parse(c.updated),
        alreadyApplied,
        skipped,
      };
    };
    if (cmd.action === 'create') {
      if (!cmd.marker)
        throw new LockstepError(`applying ${cmd.commandId} to jira`, {
          category: 'validation',
          cause: 'a create needs a marker',
        });
      const found = await findByMarker({ marker: cmd.marker, entityType: 'comment', parentId });
      if (found)
        return result(
          await client.issueComments.getComment({ issueIdOrKey: parentId, id: found.targetId }),
          [],
          true,
        );
      const created = await client.issueComments.addComment({
        issueIdOrKey: parentId,
        comment: markdownToAdf(cmd.fields.body ?? ''),
        properties: markerProperty(cmd.marker),
      });
      return result(created, [], false);
    }
    const targetId = required(cmd);
    if (cmd.action === 'delete') {
      await client.issueComments.deleteComment({ issueIdOrKey: parentId, id: targetId });
      return {
        targetId,
        targetKey: null,
        written: null,
        platformVersion: null,
        platformTsMs: null,
        alreadyApplied: false,
        skipped: [],
      };
    }
    const current = await client.issueComments.getComment({ issueIdOrKey: parentId, id: targetId });
    const before = commentState(jiraComment.parse(current));
    const stale = staleFields(cmd, before);
    if (stale.length > 0 || !cmd.fields.known.includes('body')) return result(current, stale, false, before);
    const updated = await client.issueComments.updateComment({
      issueIdOrKey: parentId,
      id: targetId,
      body: markdownToAdf(cmd.fields.body ?? ''),
    });
    return result(updated, [], false, before);
  }

  /**
   * A note is a comment with the create-marker property `lockstep.link` = {id: note:<noteId>},
   * set in the create call itself; looked for first, so a retry after a lost answer finds it.
   */
  async function postNote(note: ItemNote): Promise<PostedNote> {
    const marker = noteCreateMarker(note.noteId);
    const found = await findByMarker({ marker, entityType: 'comment', parentId: note.targetId });
    if (found) return { commentId: found.targetId, alreadyPosted: true };
    const created = z.object({ id: z.string() }).parse(
      await client.issueComments.addComment({
        issueIdOrKey: note.targetId,
        comment: noteAdf(note.paragraphs),
        properties: markerProperty(marker),
      }),
    );
    return { commentId: created.id, alreadyPosted: false };
  }

  return {
    findByMarker,
    postNote,
    async apply(cmd) {
      if (cmd.entityType === 'issue') return applyIssue(cmd);
      if (cmd.entityType === 'comment') return applyComment(cmd);
      throw new LockstepError(`applying ${cmd.commandId} to jira`, {
        category: 'validation',
        cause: `Jira has no ${cmd.entityType} entities`,
      });
    },
  };
}

/** The command's labels (values and base) as Jira would hold them, for comparing with the issue. */
export function inJiraSpelling(cmd: WriteCommand): Pick<WriteCommand, 'fields' | 'base'> {
  const spell = (f: EntityState): EntityState =>
    f.known.includes('labels') && f.labels !== null ? { ...f, labels: jiraLabels(f.labels) } : f;
  return { fields: spell(cmd.fields), base: cmd.base ? spell(cmd.base) : null };
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function required(cmd: WriteCommand): string {
  if (!cmd.targetId)
    throw new LockstepError(`applying ${cmd.commandId} to jira`, {
      category: 'validation',
      cause: `${cmd.action} needs a targetId`,
    });
  return cmd.targetId;
}
