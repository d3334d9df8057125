/**
 * One-record reads for `lockstep verify`: the same query fields and the same normalization as the
 * poller (poll.ts), so a record read here compares with what the pipeline saw. Linear keeps a
 * deleted issue readable for a while (in the trash, with `archivedAt` set) and answers an id it
 * does not know with "Entity not found"; both mean the record is gone for the flow, as the
 * `remove` webhook does.
 */
import { z } from 'zod';
import { LockstepError } from '../../core/errors/index.ts';
import type { ConnectorDeps, EntityRef, Reader, ReadResult } from '../types.ts';
import { linearClient } from './client.ts';
import type { LinearConfig } from './config.ts';
import { classifyLinearError } from './errors.ts';
import { commentEvent, issueEvent, person, type LinearSourceExtras } from './normalize.ts';
import { COMMENT_FIELDS, commentNodeToData, issueNodeToData, ISSUE_FIELDS } from './poll.ts';

export function createLinearReader(deps: ConnectorDeps<LinearConfig>): Reader {
  const cfg = deps.config;
  const now = deps.now ?? Date.now;
  const client = linearClient(cfg, deps.budget);

  async function node(ref: EntityRef): Promise<unknown> {
    const [field, fields] =
      ref.entityType === 'issue' ? ['issue', ISSUE_FIELDS] : ['comment', COMMENT_FIELDS];
    try {
      const res = await client.client.rawRequest(
        `query LockstepRead($id: String!) { ${field}(id: $id) { ${fields} } }`,
        { id: ref.entityId },
      );
      return z.record(z.string(), z.unknown()).parse(res.data)[field] ?? null;
    } catch (err) {
      const msg = err instanceof Error ? err.message : '';
      if (classifyLinearError(err).category === 'not_found' || /not found/i.test(msg)) return null;
      throw err;
    }
  }

  return {
    async read(ref, source): Promise<ReadResult> {
      if (ref.entityType !== 'issue' && ref.entityType !== 'comment')
        throw new LockstepError(`reading linear ${ref.entityType} ${ref.entityId}`, {
          category: 'validation',
          cause: `Linear has no ${ref.entityType} entities`,
        });
      const n = await node(ref);
      if (n === null) return { found: false, detail: `linear has no ${ref.entityType} ${ref.entityId}` };
      const x: LinearSourceExtras = {
        ...source,
        actor: null,
        botUserId: cfg.botUserId ?? deps.botUserId,
        nowMs: now(),
        fallbackWorkspace: 'unknown',
      };
      if (ref.entityType === 'issue') {
        const d = issueNodeToData(n);
        if (d.archivedAt)
          return {
            found: false,
            detail: `${d.identifier ?? d.id} was deleted or archived at ${d.archivedAt}`,
          };
        const event = issueEvent('r', d, null, x);
        if (!event) throw new LockstepError(`reading linear issue ${ref.entityId}`, { category: 'unknown' });
        return { found: true, event };
      }
      const d = commentNodeToData(n);
      if (d.archivedAt) return { found: false, detail: `comment ${d.id} was deleted at ${d.archivedAt}` };
      const event = commentEvent('r', d, null, { ...x, actor: person(d.user) });
      if (!event) throw new LockstepError(`reading linear comment ${ref.entityId}`, { category: 'unknown' });
      return { found: true, event };
    },
  };
}
