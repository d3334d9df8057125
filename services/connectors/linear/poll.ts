/**
 * Delta reads: `issues(filter:{updatedAt:{gte}}, orderBy: updatedAt)` and the same for comments,
 * with Relay cursors. The walk is order-independent: `since` stays fixed while `after` pages
 * through, and only when the last page is reached does `since` move to the newest updatedAt seen,
 * minus an overlap. A seen-set of (id, updatedAt) inside the overlap keeps re-reads from producing
 * duplicates; duplicates that slip through share an eventId anyway.
 *
 * Linear "especially discourage[s] polling": this is the safety net under webhooks, run rarely.
 * Archived/trashed issues are not read here; deletes arrive by webhook only.
 */
import { linearClient } from './client.ts';
import { z } from 'zod';
import type { ChangeEvent } from '../../../schemas/generated/types.ts';
import { LockstepError } from '../../core/errors/index.ts';
import {
  isBadItem,
  rawId,
  type ConnectorDeps,
  type JsonValue,
  type Poller,
  type PollResult,
  type RejectedItem,
} from '../types.ts';
import type { LinearConfig } from './config.ts';
import {
  commentEvent,
  issueEvent,
  linearCommentData,
  linearIssueData,
  MARKER_URL_PREFIX,
  person,
  type LinearCommentData,
  type LinearIssueData,
  type LinearSourceExtras,
} from './normalize.ts';

/** Re-read this far behind the newest updatedAt seen, for writes that commit out of order. */
export const OVERLAP_MS = 5_000;
/** Pages per poll and stream; the walk resumes from `after` on the next poll. */
const MAX_PAGES = 20;

const streamCursor = z.object({
  since: z.string(),
  after: z.string().nullable(),
  highWater: z.string(),
  seen: z.record(z.string(), z.string()),
});
type StreamCursor = z.infer<typeof streamCursor>;
const cursorSchema = z.object({ v: z.literal(1), issues: streamCursor, comments: streamCursor });
export type LinearCursor = z.infer<typeof cursorSchema>;

export const ISSUE_FIELDS = `id identifier title description priority dueDate url createdAt updatedAt archivedAt
  state { id name type } assignee { id name email } labels { nodes { id name } } team { id key }
  attachments(filter: { url: { startsWith: "${MARKER_URL_PREFIX}" } }, first: 1) { nodes { url } }`;

const issueNode = z.looseObject({
  labels: z.object({ nodes: z.array(z.object({ id: z.string(), name: z.string() })) }),
  team: z.object({ id: z.string(), key: z.string() }),
  attachments: z.object({ nodes: z.array(z.object({ url: z.string() })) }).nullish(),
});

/** GraphQL Issue node → the webhook `data` shape normalize understands. */
export function issueNodeToData(node: unknown): LinearIssueData {
  const n = issueNode.parse(node);
  return linearIssueData.parse({
    ...n,
    labels: n.labels.nodes,
    teamId: n.team.id,
    attachments: n.attachments?.nodes ?? null,
  });
}

export const COMMENT_FIELDS = `id body url createdAt updatedAt archivedAt user { id name email } issue { id identifier team { id key } }`;
const commentNode = z.looseObject({
  issue: z.object({
    id: z.string(),
    identifier: z.string().nullish(),
    team: z.object({ id: z.string(), key: z.string().nullish() }),
  }),
});

export function commentNodeToData(node: unknown): LinearCommentData {
  const n = commentNode.parse(node);
  return linearCommentData.parse({
    ...n,
    issueId: n.issue.id,
    issue: { id: n.issue.id, identifier: n.issue.identifier, teamId: n.issue.team.id, team: n.issue.team },
  });
}

const page = z.object({
  nodes: z.array(z.unknown()),
  pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullish() }),
});

function fresh(since: string): StreamCursor {
  return { since, after: null, highWater: since, seen: {} };
}

export function createLinearPoller(deps: ConnectorDeps<LinearConfig>): Poller {
  const cfg = deps.config;
  const now = deps.now ?? Date.now;
  const client = linearClient(cfg, deps.budget);
  const teamFilter = cfg.teams.length ? { team: { key: { in: cfg.teams } } } : {};

  async function walk(
    stream: 'issues' | 'comments',
    c: StreamCursor,
    toEvent: (
      node: unknown,
      x: LinearSourceExtras,
    ) => { event: ChangeEvent | null; id: string; updatedAt: string },
  ): Promise<{ events: ChangeEvent[]; cursor: StreamCursor; caughtUp: boolean; rejected: RejectedItem[] }> {
    const fields = stream === 'issues' ? ISSUE_FIELDS : COMMENT_FIELDS;
    const filterType = stream === 'issues' ? 'IssueFilter' : 'CommentFilter';
    const filter = {
      updatedAt: { gte: c.since },
      ...(stream === 'issues' ? teamFilter : cfg.teams.length ? { issue: teamFilter } : {}),
    };
    const query = `query LockstepPoll($filter: ${filterType}, $first: Int, $after: String) {
      ${stream}(filter: $filter, orderBy: updatedAt, first: $first, after: $after) {
        nodes { ${fields} } pageInfo { hasNextPage endCursor } } }`;
    const x: LinearSourceExtras = {
      via: 'poll',
      deliveryId: null,
      actor: null,
      botUserId: cfg.botUserId ?? deps.botUserId,
      nowMs: now(),
      fallbackWorkspace: 'unknown',
    };
    const events: ChangeEvent[] = [];
    const rejected: RejectedItem[] = [];
    let { after, highWater } = c;
    const seen = { ...c.seen };
    for (let i = 0; i < MAX_PAGES; i++) {
      const res = await client.client.rawRequest(query, { filter, first: cfg.pageSize, after });
      const data = z.record(z.string(), page).safeParse(res.data);
      if (!data.success || !data.data[stream]) {
        throw new LockstepError(`polling linear ${stream}`, {
          category: 'validation',
          cause: 'unexpected response shape',
        });
      }
      const p = data.data[stream]!;
      for (const node of p.nodes) {
        let read: ReturnType<typeof toEvent>;
        try {
          read = toEvent(node, x);
        } catch (err) {
          if (!isBadItem(err)) throw err;
          // Dead-lettered by the caller; kept in the seen-set for the overlap so re-reads skip it.
          const id = rawId(node);
          const mark = `bad:${id ?? JSON.stringify(node)}`;
          if (seen[mark] === undefined) {
            seen[mark] = new Date(x.nowMs).toISOString();
            rejected.push({ id, raw: node, reason: err instanceof Error ? err.message : String(err) });
          }
          continue;
        }
        const { event, id, updatedAt } = read;
        if (Date.parse(updatedAt) > Date.parse(highWater)) highWater = updatedAt;
        if (seen[id] === updatedAt) continue;
        seen[id] = updatedAt;
        if (event) events.push(event);
      }
      if (!p.pageInfo.hasNextPage || !p.pageInfo.endCursor) {
        // Walk complete: move `since` up, keep only seen entries still inside the overlap.
        const since = new Date(
          Math.max(Date.parse(c.since), Date.parse(highWater) - OVERLAP_MS),
        ).toISOString();
        const kept = Object.fromEntries(
          Object.entries(seen).filter(([, u]) => Date.parse(u) >= Date.parse(since)),
        );
        return { events, cursor: { since, after: null, highWater, seen: kept }, caughtUp: true, rejected };
      }
      after = p.pageInfo.endCursor;
    }
    return { events, cursor: { since: c.since, after, highWater, seen }, caughtUp: false, rejected };
  }

  return {
    async poll(raw: JsonValue | null): Promise<PollResult> {
      let cursor: LinearCursor;
      if (raw === null) {
        cursor = { v: 1, issues: fresh(cfg.pollSince), comments: fresh(cfg.pollSince) };
      } else {
        const parsed = cursorSchema.safeParse(raw);
        if (!parsed.success)
          throw new LockstepError('reading the linear poll cursor', {
            category: 'validation',
            cause: parsed.error.message,
          });
        cursor = parsed.data;
      }
      const issues = await walk('issues', cursor.issues, (node, x) => {
        const d = issueNodeToData(node);
        return { event: issueEvent('r', d, null, x), id: d.id, updatedAt: d.updatedAt };
      });
      const comments = await walk('comments', cursor.comments, (node, x) => {
        const d = commentNodeToData(node);
        // Only its author edits a Linear comment: the author is the actor a poll can know.
        const actor = person(d.user);
        return { event: commentEvent('r', d, null, { ...x, actor }), id: d.id, updatedAt: d.updatedAt };
      });
      const next: LinearCursor = { v: 1, issues: issues.cursor, comments: comments.cursor };
      return {
        events: [...issues.events, ...comments.events].sort((a, b) => a.source.tsMs - b.source.tsMs),
        cursor: next,
        caughtUp: issues.caughtUp && comments.caughtUp,
        rejected: [...issues.rejected, ...comments.rejected],
      };
    },
  };
}
