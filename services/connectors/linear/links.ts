/**
 * The links each Linear issue carries (its attachments' URLs): where Linear's own Jira
 * integration, Sync2Jira and people leave the Jira issue an issue mirrors (`lockstep backfill`
 * pairs by them). One paged `attachments` query for the workspace, drawing from the budget like
 * the poller; Lockstep's own create markers are left out.
 */
import { z } from 'zod';
import type { ConnectorDeps } from '../types.ts';
import { linearClient } from './client.ts';
import type { LinearConfig } from './config.ts';
import { MARKER_URL_PREFIX } from './normalize.ts';

const page = z.object({
  attachments: z.object({
    nodes: z.array(z.object({ url: z.string(), issue: z.object({ id: z.string() }).nullish() })),
    pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullish() }),
  }),
});

/** Pages read at most: a bound, so a runaway cursor cannot loop forever. */
const MAX_PAGES = 10_000;

export async function readLinearLinks(deps: ConnectorDeps<LinearConfig>): Promise<Map<string, string[]>> {
  const client = linearClient(deps.config, deps.budget);
  const out = new Map<string, string[]>();
  let after: string | null = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const res = await client.client.rawRequest(
      `query LockstepLinks($after: String) { attachments(first: 100, after: $after) { nodes { url issue { id } } pageInfo { hasNextPage endCursor } } }`,
      { after },
    );
    const p = page.parse(res.data);
    for (const n of p.attachments.nodes) {
      if (!n.issue || n.url.startsWith(MARKER_URL_PREFIX)) continue;
      out.set(n.issue.id, [...(out.get(n.issue.id) ?? []), n.url]);
    }
    if (!p.attachments.pageInfo.hasNextPage || !p.attachments.pageInfo.endCursor) break;
    after = p.attachments.pageInfo.endCursor;
  }
  return out;
}
