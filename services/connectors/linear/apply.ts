/**
 * WriteCommand → @linear/sdk. Queries go through the SDK's `client.rawRequest` with explicit
 * selections: the generated model methods load relations lazily (one request per relation), which
 * would multiply the API calls of every write.
 *
 * Create markers: the issue (or comment) is created with an id derived from the marker (Linear
 * accepts client-chosen UUIDs), and an issue also gets an attachment `lockstep://link/<marker>`, the
 * visible back-link. `findByMarker` looks for either, so a create whose response was lost is found
 * instead of repeated.
 */
import { linearClient } from './client.ts';
import { z } from 'zod';
import type { EntityState, Person, StatusCategory, WriteCommand } from '../../../schemas/generated/types.ts';
import { LockstepError } from '../../core/errors/index.ts';
import {
  fieldsToWrite,
  staleFields,
  uuidFromMarker,
  type Applier,
  type ApplyResult,
  type ConnectorDeps,
  type FoundTarget,
  type ItemNote,
  type MarkerQuery,
  type PostedNote,
  type SkippedField,
} from '../types.ts';
import type { LinearConfig } from './config.ts';
import { classifyLinearError } from './errors.ts';
import {
  commentState,
  issueState,
  markerUrl,
  PRIORITY_TO_LINEAR,
  STATE_TYPE_TO_CATEGORY,
} from './normalize.ts';
import { commentNodeToData, issueNodeToData, ISSUE_FIELDS } from './poll.ts';
import { noteCreateMarker } from '../kit/notes.ts';
import { noteMarkdown } from './notes.ts';

export { markerUrl };

const COMMENT_FIELDS = `id body url createdAt updatedAt archivedAt user { id name email } issue { id identifier team { id key } }`;

/** Category → WorkflowState types, first preferred. */
const CATEGORY_TO_TYPES: Record<StatusCategory, string[]> = {
  backlog: ['backlog', 'triage'],
  todo: ['unstarted'],
  in_progress: ['started'],
  done: ['completed'],
  canceled: ['canceled', 'duplicate'],
};

const idNodes = z.object({ nodes: z.array(z.object({ id: z.string() }).loose()) });

export function createLinearApplier(deps: ConnectorDeps<LinearConfig>): Applier {
  const cfg = deps.config;
  const client = linearClient(cfg, deps.budget);

  async function gql<T extends z.ZodType>(
    what: string,
    query: string,
    variables: Record<string, unknown>,
    shape: T,
  ): Promise<z.output<T>> {
    const res = await client.client.rawRequest(query, variables);
    const parsed = shape.safeParse(res.data);
    if (!parsed.success) {
      throw new LockstepError(`${what} on linear`, {
        category: 'unknown',
        cause: `unexpected response: ${parsed.error.message}`,
      });
    }
    return parsed.data;
  }

  /** Linear answers a missing entity with an "Entity not found" GraphQL error. */
  async function orNull<T>(p: Promise<T>): Promise<T | null> {
    try {
      return await p;
    } catch (err) {
      const msg = err instanceof Error ? err.message : '';
      if (classifyLinearError(err).category === 'not_found' || /not found/i.test(msg)) return null;
      throw err;
    }
  }

  async function readIssue(id: string) {
    const r = await gql(
      'reading issue',
      `query LockstepIssue($id: String!) { issue(id: $id) { ${ISSUE_FIELDS} } }`,
      { id },
      z.object({ issue: z.unknown() }),
    );
    return issueNodeToData(r.issue);
  }

  async function readComment(id: string) {
    const r = await gql(
      'reading comment',
      `query LockstepComment($id: String!) { comment(id: $id) { ${COMMENT_FIELDS} } }`,
      { id },
      z.object({ comment: z.unknown() }),
    );
    return commentNodeToData(r.comment);
  }

  async function resolveState(
    teamId: string,
    status: NonNullable<EntityState['status']>,
  ): Promise<string | null> {
    const r = await gql(
      'listing workflow states',
      `query LockstepStates($filter: WorkflowStateFilter) { workflowStates(filter: $filter, first: 100) { nodes { id name type position } } }`,
      { filter: { team: { id: { eq: teamId } } } },
      z.object({
        workflowStates: z.object({
          nodes: z.array(
            z.object({ id: z.string(), name: z.string(), type: z.string(), position: z.number() }),
          ),
        }),
      }),
    );
    const states = r.workflowStates.nodes.filter((s) => STATE_TYPE_TO_CATEGORY[s.type] === status.category);
    const byName = states.find((s) => s.name.toLowerCase() === status.name.toLowerCase());
    if (byName) return byName.id;
    const types = CATEGORY_TO_TYPES[status.category];
    const ranked = [...states].sort(
      (a, b) => types.indexOf(a.type) - types.indexOf(b.type) || a.position - b.position,
    );
    return ranked[0]?.id ?? null;
  }

  /** Flows name a Linear team by its key (ENG); the API wants its id. Ids pass through. */
  const teamIds = new Map<string, string>();
  async function resolveTeam(keyOrId: string): Promise<string> {
    const known = teamIds.get(keyOrId);
    if (known) return known;
    const r = await gql(
      'finding team',
      `query LockstepTeam($filter: TeamFilter) { teams(filter: $filter, first: 1) { nodes { id } } }`,
      { filter: { key: { eq: keyOrId } } },
      z.object({ teams: idNodes }),
    );
    const id = r.teams.nodes[0]?.id ?? keyOrId;
    teamIds.set(keyOrId, id);
    return id;
  }

  async function resolveUser(email: string): Promise<string | null> {
    const r = await gql(
      'finding user by email',
      `query LockstepUser($filter: UserFilter) { users(filter: $filter, first: 1) { nodes { id } } }`,
      { filter: { email: { eqIgnoreCase: email } } },
      z.object({ users: idNodes }),
    );
    return r.users.nodes[0]?.id ?? null;
  }

  /**
   * The user to assign: the command's user id (a `people:` override) when it exists, else the
   * email's. Checked first, so a wrong id in the configuration costs one unassigned field, not a
   * rejected write.
   */
  async function assigneeUser(p: Person): Promise<{ id: string } | { detail: string }> {
    if (p.platformUserId) {
      const r = await gql(
        'finding user by id',
        `query LockstepUserById($filter: UserFilter) { users(filter: $filter, first: 1) { nodes { id } } }`,
        { filter: { id: { eq: p.platformUserId } } },
        z.object({ users: idNodes }),
      );
      const id = r.users.nodes[0]?.id;
      return id ? { id } : { detail: `no Linear user ${p.platformUserId} (given by people)` };
    }
    const id = p.email ? await resolveUser(p.email) : null;
    return id
      ? { id }
      : {
          detail: `no Linear user with email ${p.email ?? '(none given)'}; add a people override with their user id`,
        };
  }

  /** Label names → ids in the team (or workspace-wide), creating missing ones in the team. */
  async function resolveLabels(
    teamId: string,
    names: string[],
  ): Promise<{ ids: string[]; missing: string[] }> {
    if (names.length === 0) return { ids: [], missing: [] };
    const r = await gql(
      'listing labels',
      `query LockstepLabels($filter: IssueLabelFilter) { issueLabels(filter: $filter, first: 250) { nodes { id name team { id } } } }`,
      // Linear's name check ignores case (it refuses "Bug" where "bug" exists), so the lookup must too.
      { filter: { or: names.map((name) => ({ name: { eqIgnoreCase: name } })) } },
      z.object({
        issueLabels: z.object({
          nodes: z.array(
            z.object({ id: z.string(), name: z.string(), team: z.object({ id: z.string() }).nullish() }),
          ),
        }),
      }),
    );
    const usable = r.issueLabels.nodes.filter((l) => !l.team || l.team.id === teamId);
    const ids: string[] = [];
    const missing: string[] = [];
    for (const name of names) {
      const found =
        usable.find((l) => l.name === name) ??
        usable.find((l) => l.name.toLowerCase() === name.toLowerCase());
      if (found) {
        ids.push(found.id);
        continue;
      }
      const created = await gql(
        'creating label',
        `mutation LockstepLabelCreate($input: IssueLabelCreateInput!) { issueLabelCreate(input: $input) { success issueLabel { id } } }`,
        { input: { name, teamId } },
        z.object({
          issueLabelCreate: z.object({
            success: z.boolean(),
            issueLabel: z.object({ id: z.string() }).nullish(),
          }),
        }),
      );
      const id = created.issueLabelCreate.success ? created.issueLabelCreate.issueLabel?.id : undefined;
      if (id) ids.push(id);
      else missing.push(name);
    }
    return { ids, missing };
  }

  /** EntityState → IssueCreateInput/IssueUpdateInput fields; unresolvable values are reported, not guessed. */
  async function issueInput(teamId: string, f: EntityState, write: string[]) {
    const input: Record<string, unknown> = {};
    const skipped: SkippedField[] = [];
    for (const field of write) {
      switch (field) {
        case 'title':
          input.title = f.title ?? '';
          break;
        case 'description':
          input.description = f.description ?? '';
          break;
        case 'priority':
          input.priority = PRIORITY_TO_LINEAR[f.priority ?? 'none'];
          break;
        case 'dueDate':
          input.dueDate = f.dueDate;
          break;
        case 'status': {
          if (!f.status) break;
          const stateId = await resolveState(teamId, f.status);
          if (stateId) input.stateId = stateId;
          else
            skipped.push({
              field,
              reason: 'unresolvable',
              detail: `no workflow state of category ${f.status.category} in team ${teamId}`,
            });
          break;
        }
        case 'assignee': {
          if (f.assignee === null) {
            input.assigneeId = null;
            break;
          }
          const user = await assigneeUser(f.assignee);
          if ('id' in user) input.assigneeId = user.id;
          else skipped.push({ field, reason: 'unresolvable', detail: user.detail });
          break;
        }
        case 'labels': {
          const { ids, missing } = await resolveLabels(teamId, f.labels ?? []);
          input.labelIds = ids;
          if (missing.length) {
            skipped.push({
              field,
              reason: 'unresolvable',
              detail: `could not create label(s) ${missing.join(', ')}`,
            });
          }
          break;
        }
        default:
          // url, timestamps, body/author: not writable on an issue.
          break;
      }
    }
    return { input, skipped };
  }

  const issuePayload = (key: string) => z.object({ [key]: z.object({ issue: z.unknown() }) });
  const commentPayload = (key: string) => z.object({ [key]: z.object({ comment: z.unknown() }) });

  function issueResult(
    node: unknown,
    skipped: SkippedField[],
    alreadyApplied: boolean,
    before: EntityState | null = null,
  ): ApplyResult {
    const d = issueNodeToData(node);
    return {
      before,
      targetId: d.id,
      targetKey: d.identifier ?? null,
      written: issueState(d),
      platformVersion: d.updatedAt,
      platformTsMs: Date.parse(d.updatedAt),
      alreadyApplied,
      skipped,
    };
  }

  function commentResult(
    node: unknown,
    skipped: SkippedField[],
    alreadyApplied: boolean,
    before: EntityState | null = null,
  ): ApplyResult {
    const d = commentNodeToData(node);
    return {
      before,
      targetId: d.id,
      targetKey: null,
      written: commentState(d),
      platformVersion: d.updatedAt,
      platformTsMs: Date.parse(d.updatedAt),
      alreadyApplied,
      skipped,
    };
  }

  async function findByMarker(q: MarkerQuery): Promise<FoundTarget | null> {
    if (q.entityType === 'issue') {
      const r = await gql(
        'finding create marker',
        `query LockstepMarker($url: String!) { attachmentsForURL(url: $url, first: 1) { nodes { issue { id identifier } } } }`,
        { url: markerUrl(q.marker) },
        z.object({
          attachmentsForURL: z.object({
            nodes: z.array(z.object({ issue: z.object({ id: z.string(), identifier: z.string() }) })),
          }),
        }),
      );
      const hit = r.attachmentsForURL.nodes[0];
      if (hit) return { targetId: hit.issue.id, targetKey: hit.issue.identifier };
      // The issue may exist without its attachment (crash between the two calls).
      const byId = await orNull(readIssue(uuidFromMarker(q.marker)));
      return byId ? { targetId: byId.id, targetKey: byId.identifier ?? null } : null;
    }
    if (q.entityType === 'comment') {
      const c = await orNull(readComment(uuidFromMarker(q.marker)));
      return c ? { targetId: c.id, targetKey: null } : null;
    }
    return null;
  }

  async function attachMarker(issueId: string, marker: string): Promise<void> {
    await gql(
      'attaching create marker',
      `mutation LockstepAttach($input: AttachmentCreateInput!) { attachmentCreate(input: $input) { success } }`,
      { input: { issueId, url: markerUrl(marker), title: 'Synced by Lockstep', subtitle: `link ${marker}` } },
      z.object({ attachmentCreate: z.object({ success: z.boolean() }) }),
    );
  }

  async function applyIssue(cmd: WriteCommand): Promise<ApplyResult> {
    if (cmd.action === 'create') {
      if (!cmd.marker)
        throw new LockstepError(`applying ${cmd.commandId} to linear`, {
          category: 'validation',
          cause: 'a create needs a marker',
        });
      const found = await findByMarker({ marker: cmd.marker, entityType: 'issue', parentId: null });
      if (found) {
        const hasAttachment = await gql(
          'checking create marker',
          `query LockstepMarker($url: String!) { attachmentsForURL(url: $url, first: 1) { nodes { id } } }`,
          { url: markerUrl(cmd.marker) },
          z.object({ attachmentsForURL: idNodes }),
        );
        if (hasAttachment.attachmentsForURL.nodes.length === 0)
          await attachMarker(found.targetId, cmd.marker);
        return issueResult(await readIssueNode(found.targetId), [], true);
      }
      const teamId = await resolveTeam(cmd.workspace);
      const { input, skipped } = await issueInput(teamId, cmd.fields, cmd.fields.known);
      const r = await gql(
        'creating issue',
        `mutation LockstepIssueCreate($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { ${ISSUE_FIELDS} } } }`,
        { input: { ...input, id: uuidFromMarker(cmd.marker), teamId } },
        issuePayload('issueCreate'),
      );
      const node = r.issueCreate!.issue;
      const created = issueNodeToData(node);
      // The issue exists from here on (its id is the marker's uuid, which findByMarker also finds):
      // a failed attachment must not fail the create, or egress would retry a write that was made.
      try {
        await attachMarker(created.id, cmd.marker);
      } catch (err) {
        skipped.push({
          field: 'attachment',
          reason: 'follow_up_failed',
          detail: `attaching the create marker to ${created.identifier ?? created.id}: ${err instanceof Error ? err.message : String(err)}`,
        });
      }
      return issueResult(node, skipped, false);
    }
    const targetId = required(cmd);
    if (cmd.action === 'delete') {
      await gql(
        'deleting issue',
        `mutation LockstepIssueDelete($id: String!) { issueDelete(id: $id) { success } }`,
        { id: targetId },
        z.object({ issueDelete: z.object({ success: z.boolean() }) }),
      );
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
    const current = await readIssue(targetId);
    const currentState = issueState(current);
    const stale = staleFields(cmd, currentState);
    const write = fieldsToWrite(cmd, currentState, stale);
    const teamId = current.teamId ?? current.team?.id ?? cmd.workspace;
    const { input, skipped } = await issueInput(teamId, cmd.fields, write);
    if (Object.keys(input).length === 0)
      // Nothing left to write and nothing refused: the target already holds every value (a repeat).
      return issueResult(
        await readIssueNode(targetId),
        [...stale, ...skipped],
        write.length === 0 && stale.length === 0,
        currentState,
      );
    const r = await gql(
      'updating issue',
      `mutation LockstepIssueUpdate($id: String!, $input: IssueUpdateInput!) { issueUpdate(id: $id, input: $input) { success issue { ${ISSUE_FIELDS} } } }`,
      { id: targetId, input },
      issuePayload('issueUpdate'),
    );
    return issueResult(r.issueUpdate!.issue, [...stale, ...skipped], false, currentState);
  }

  async function readIssueNode(id: string): Promise<unknown> {
    const r = await gql(
      'reading issue',
      `query LockstepIssue($id: String!) { issue(id: $id) { ${ISSUE_FIELDS} } }`,
      { id },
      z.object({ issue: z.unknown() }),
    );
    return r.issue;
  }

  async function applyComment(cmd: WriteCommand): Promise<ApplyResult> {
    if (cmd.action === 'create') {
      if (!cmd.marker || !cmd.parentId) {
        throw new LockstepError(`applying ${cmd.commandId} to linear`, {
          category: 'validation',
          cause: 'a comment create needs a marker and a parentId',
        });
      }
      const id = uuidFromMarker(cmd.marker);
      const existing = await orNull(readCommentNode(id));
      if (existing) return commentResult(existing, [], true);
      const r = await gql(
        'creating comment',
        `mutation LockstepCommentCreate($input: CommentCreateInput!) { commentCreate(input: $input) { success comment { ${COMMENT_FIELDS} } } }`,
        { input: { id, issueId: cmd.parentId, body: cmd.fields.body ?? '' } },
        commentPayload('commentCreate'),
      );
      return commentResult(r.commentCreate!.comment, [], false);
    }
    const targetId = required(cmd);
    if (cmd.action === 'delete') {
      await gql(
        'deleting comment',
        `mutation LockstepCommentDelete($id: String!) { commentDelete(id: $id) { success } }`,
        { id: targetId },
        z.object({ commentDelete: z.object({ success: z.boolean() }) }),
      );
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
    const current = commentState(await readComment(targetId));
    const stale = staleFields(cmd, current);
    if (!cmd.fields.known.includes('body') || stale.length > 0)
      return commentResult(await readCommentNode(targetId), stale, false, current);
    const r = await gql(
      'updating comment',
      `mutation LockstepCommentUpdate($id: String!, $input: CommentUpdateInput!) { commentUpdate(id: $id, input: $input) { success comment { ${COMMENT_FIELDS} } } }`,
      { id: targetId, input: { body: cmd.fields.body ?? '' } },
      commentPayload('commentUpdate'),
    );
    return commentResult(r.commentUpdate!.comment, [], false, current);
  }

  async function readCommentNode(id: string): Promise<unknown> {
    const r = await gql(
      'reading comment',
      `query LockstepComment($id: String!) { comment(id: $id) { ${COMMENT_FIELDS} } }`,
      { id },
      z.object({ comment: z.unknown() }),
    );
    return r.comment;
  }

  /**
   * A note is a comment whose client-chosen id derives from the note id (as a comment create's
   * does from its marker): read first, so a retry after a lost answer finds it, not a duplicate.
   */
  async function postNote(note: ItemNote): Promise<PostedNote> {
    const id = uuidFromMarker(noteCreateMarker(note.noteId));
    if (await orNull(readCommentNode(id))) return { commentId: id, alreadyPosted: true };
    const r = await gql(
      'posting note',
      `mutation LockstepNoteCreate($input: CommentCreateInput!) { commentCreate(input: $input) { success comment { id } } }`,
      { input: { id, issueId: note.targetId, body: noteMarkdown(note.paragraphs) } },
      z.object({ commentCreate: z.object({ success: z.boolean(), comment: z.object({ id: z.string() }) }) }),
    );
    return { commentId: r.commentCreate.comment.id, alreadyPosted: false };
  }

  return {
    findByMarker,
    postNote,
    async apply(cmd) {
      if (cmd.entityType === 'issue') return applyIssue(cmd);
      if (cmd.entityType === 'comment') return applyComment(cmd);
      throw new LockstepError(`applying ${cmd.commandId} to linear`, {
        category: 'validation',
        cause: `Linear has no ${cmd.entityType} entities`,
      });
    },
  };
}

function required(cmd: WriteCommand): string {
  if (!cmd.targetId)
    throw new LockstepError(`applying ${cmd.commandId} to linear`, {
      category: 'validation',
      cause: `${cmd.action} needs a targetId`,
    });
  return cmd.targetId;
}
