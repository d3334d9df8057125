/**
 * One-record reads for `lockstep verify`: `GET /rest/api/3/issue/{id}` with the poller's fields and
 * the create-marker property, and `GET …/issue/{id}/comment/{id}`, normalized as the poller
 * normalizes them (poll.ts), so a record read here compares with what the pipeline saw. Unlike
 * search, these reads are consistent right after a write. Jira deletes for good: a deleted issue
 * or comment answers 404.
 */
import { HttpException } from 'jira.js';
import { LockstepError } from '../../core/errors/index.ts';
import type { ConnectorDeps, Reader, ReadResult } from '../types.ts';
import type { JiraConfig } from './config.ts';
import {
  commentEvent,
  issueEvent,
  jiraComment,
  jiraIssue,
  MARKER_PROPERTY,
  person,
  type JiraSourceExtras,
} from './normalize.ts';
import { ISSUE_FIELDS, jiraClient } from './poll.ts';

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof HttpException && err.status === 404) return null;
    throw err;
  }
}

export function createJiraReader(deps: ConnectorDeps<JiraConfig>): Reader {
  const cfg = deps.config;
  const now = deps.now ?? Date.now;
  const client = jiraClient(cfg, deps.budget);

  const readIssue = async (id: string) => {
    const raw = await orNull(
      client.issues.getIssue({ issueIdOrKey: id, fields: ISSUE_FIELDS, properties: [MARKER_PROPERTY] }),
    );
    return raw === null ? null : jiraIssue.parse(raw);
  };

  return {
    async read(ref, source): Promise<ReadResult> {
      const x: JiraSourceExtras = {
        ...source,
        actor: null,
        botUserId: cfg.botAccountId ?? deps.botUserId,
        nowMs: now(),
      };
      if (ref.entityType === 'issue') {
        const issue = await readIssue(ref.entityId);
        if (issue === null) return { found: false, detail: `jira has no issue ${ref.entityId} (404)` };
        const event = issueEvent(cfg, 'r', issue, null, x);
        if (!event) throw new LockstepError(`reading jira issue ${ref.entityId}`, { category: 'unknown' });
        return { found: true, event };
      }
      if (ref.entityType === 'comment') {
        if (!ref.parentId)
          throw new LockstepError(`reading jira comment ${ref.entityId}`, {
            category: 'validation',
            cause: 'a Jira comment is read under its issue, and none was given',
          });
        const issue = await readIssue(ref.parentId);
        if (issue === null)
          return { found: false, detail: `jira has no issue ${ref.parentId}, the comment's parent (404)` };
        const raw = await orNull(
          client.issueComments.getComment({ issueIdOrKey: ref.parentId, id: ref.entityId }),
        );
        if (raw === null) return { found: false, detail: `jira has no comment ${ref.entityId} (404)` };
        const c = jiraComment.parse(raw);
        return {
          found: true,
          event: commentEvent('r', c, issue, { ...x, actor: person(c.updateAuthor ?? c.author) }),
        };
      }
      throw new LockstepError(`reading jira ${ref.entityType} ${ref.entityId}`, {
        category: 'validation',
        cause: `Jira has no ${ref.entityType} entities`,
      });
    },
  };
}
