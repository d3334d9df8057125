/**
 * Delta reads through `POST /rest/api/3/search/jql` (jira.js `…EnhancedSearchPost`):
 * `project in (…) AND updated >= "yyyy/MM/dd HH:mm" ORDER BY updated ASC`.
 *
 * JQL dates are minute-precise and read in the API user's time zone, so the lower bound is the
 * newest `updated` seen minus an overlap (≥ 1 minute), formatted in `jqlTimeZone`; whatever the
 * overlap re-reads is dropped by the seen-set of (id → updated) kept in the cursor. Search is also
 * eventually consistent ("might not be immediately visible"), another reason for the overlap.
 * Comments come with their issue (`fields=comment`): adding one bumps the issue's `updated`.
 * Deleted issues are not visible to search; deletes arrive by webhook only.
 */
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
import { jiraClient } from './client.ts';
import type { JiraConfig } from './config.ts';
import {
  commentEvent,
  isNoteComment,
  issueEvent,
  jiraComment,
  jiraIssue,
  MARKER_PROPERTY,
  person,
  type JiraComment,
  type JiraSourceExtras,
} from './normalize.ts';

export const ISSUE_FIELDS = [
  'summary',
  'description',
  'status',
  'priority',
  'assignee',
  'labels',
  'duedate',
  'project',
  'created',
  'updated',
];
const MAX_PAGES = 20;

const cursorSchema = z.object({
  v: z.literal(1),
  /** Lower bound of the current walk (epoch ms, before the overlap is subtracted). */
  sinceMs: z.number(),
  nextPageToken: z.string().nullable(),
  highWaterMs: z.number(),
  /** `<id>` or `c:<id>` → the `updated` already produced. */
  seen: z.record(z.string(), z.string()),
});
export type JiraCursor = z.infer<typeof cursorSchema>;

// Built in client.ts (timeouts, rate budget); re-exported for the modules that import it from here.
export { jiraClient };

/** "yyyy/MM/dd HH:mm" of `ms` in `timeZone`, rounded down to the minute. */
export function jqlDate(ms: number, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}/${parts.month}/${parts.day} ${parts.hour}:${parts.minute}`;
}

export function deltaJql(cfg: JiraConfig, sinceMs: number): string {
  const from = jqlDate(Math.max(0, sinceMs - cfg.pollOverlapMs), cfg.jqlTimeZone);
  const projects = cfg.projects.map((p) => `"${p}"`).join(', ');
  return `project in (${projects}) AND updated >= "${from}" ORDER BY updated ASC`;
}

const searchPage = z.object({
  issues: z.array(z.unknown()).default([]),
  nextPageToken: z.string().nullish(),
});
const commentField = z.object({
  comment: z
    .object({ comments: z.array(z.unknown()), total: z.number().optional(), startAt: z.number().optional() })
    .nullish(),
});

export function createJiraPoller(deps: ConnectorDeps<JiraConfig>): Poller {
  const cfg = deps.config;
  const now = deps.now ?? Date.now;
  const client = jiraClient(cfg, deps.budget);

  async function allComments(
    issueId: string,
    first: unknown[],
    total: number,
    reject: (raw: unknown, err: unknown) => void,
  ): Promise<JiraComment[]> {
    const out: JiraComment[] = [];
    let read = 0;
    const take = (raw: unknown[]) => {
      read += raw.length;
      for (const c of raw) {
        const p = jiraComment.safeParse(c);
        if (p.success) out.push(p.data);
        else reject(c, p.error);
      }
    };
    take(first);
    while (read < total) {
      const page = await client.issueComments.getComments({
        issueIdOrKey: issueId,
        startAt: read,
        maxResults: 100,
      });
      const more = z.object({ comments: z.array(z.unknown()) }).parse(page).comments;
      if (more.length === 0) break;
      take(more);
    }
    return out;
  }

  return {
    async poll(raw: JsonValue | null): Promise<PollResult> {
      let c: JiraCursor;
      if (raw === null) {
        const since = Date.parse(cfg.pollSince);
        c = { v: 1, sinceMs: since, nextPageToken: null, highWaterMs: since, seen: {} };
      } else {
        const parsed = cursorSchema.safeParse(raw);
        if (!parsed.success)
          throw new LockstepError('reading the jira poll cursor', {
            category: 'validation',
            cause: parsed.error.message,
          });
        c = parsed.data;
      }
      const x: JiraSourceExtras = {
        via: 'poll',
        deliveryId: null,
        actor: null,
        botUserId: cfg.botAccountId ?? deps.botUserId,
        nowMs: now(),
      };
      const jql = deltaJql(cfg, c.sinceMs);
      const events: ChangeEvent[] = [];
      const rejected: RejectedItem[] = [];
      const seen = { ...c.seen };
      // A malformed item is dead-lettered once (by the caller) and the walk goes on; it stays in the
      // seen-set as `bad:<id>` for the overlap, so re-reads do not dead-letter it again.
      const reject = (raw: unknown, err: unknown): void => {
        const id = rawId(raw);
        const mark = `bad:${id ?? JSON.stringify(raw)}`;
        if (seen[mark] !== undefined) return;
        seen[mark] = new Date(x.nowMs).toISOString();
        rejected.push({ id, raw, reason: err instanceof Error ? err.message : String(err) });
      };
      let { nextPageToken, highWaterMs } = c;
      for (let i = 0; i < MAX_PAGES; i++) {
        const res = await client.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
          jql,
          fields: [...ISSUE_FIELDS, 'comment'],
          // The create marker: a poll has no actor, so the marker is how it tells our creates.
          properties: [MARKER_PROPERTY],
          maxResults: cfg.pageSize,
          ...(nextPageToken && { nextPageToken }),
        });
        const page = searchPage.parse(res);
        for (const node of page.issues) {
          const parsed = jiraIssue.safeParse(node);
          if (!parsed.success) {
            reject(node, parsed.error);
            continue;
          }
          const issue = parsed.data;
          const updatedMs = Date.parse(issue.fields.updated);
          highWaterMs = Math.max(highWaterMs, updatedMs);
          if (seen[issue.id] !== issue.fields.updated) {
            let e: ChangeEvent | null;
            try {
              e = issueEvent(cfg, 'r', issue, null, x);
            } catch (err) {
              if (!isBadItem(err)) throw err;
              reject(node, err);
              continue;
            }
            seen[issue.id] = issue.fields.updated;
            if (e) events.push(e);
          }
          const cf = commentField.safeParse(z.object({ fields: z.unknown() }).parse(node).fields);
          const field = cf.success ? cf.data.comment : null;
          if (!field) continue;
          const comments = await allComments(
            issue.id,
            field.comments,
            field.total ?? field.comments.length,
            reject,
          );
          for (const cm of comments) {
            if (Date.parse(cm.updated) < c.sinceMs - cfg.pollOverlapMs || seen[`c:${cm.id}`] === cm.updated)
              continue;
            // A comment's last editor is its updateAuthor: the actor a poll can know.
            try {
              if (isNoteComment(cm, x.botUserId)) {
                seen[`c:${cm.id}`] = cm.updated;
                continue;
              }
              events.push(
                commentEvent('r', cm, issue, { ...x, actor: person(cm.updateAuthor ?? cm.author) }),
              );
            } catch (err) {
              if (!isBadItem(err)) throw err;
              reject(cm, err);
              continue;
            }
            seen[`c:${cm.id}`] = cm.updated;
          }
        }
        nextPageToken = page.nextPageToken ?? null;
        if (!nextPageToken) {
          // Walk complete: the next one starts at the newest update seen; prune the seen-set to the overlap.
          const floor = highWaterMs - cfg.pollOverlapMs - 60_000;
          const kept = Object.fromEntries(Object.entries(seen).filter(([, u]) => Date.parse(u) >= floor));
          return {
            events: events.sort((a, b) => a.source.tsMs - b.source.tsMs),
            cursor: { v: 1, sinceMs: highWaterMs, nextPageToken: null, highWaterMs, seen: kept },
            caughtUp: true,
            rejected,
          };
        }
      }
      return {
        events: events.sort((a, b) => a.source.tsMs - b.source.tsMs),
        cursor: { v: 1, sinceMs: c.sinceMs, nextPageToken, highWaterMs, seen },
        caughtUp: false,
        rejected,
      };
    },
  };
}
