/**
 * What a failed scenario leaves to read beside the service logs: each service's metrics (consumer
 * lag, retries, breaker, outbox and audit relay counts), the state in Postgres (links not active or
 * with writes pending, unsent outbox rows, applied commands, unpublished audit rows) and both
 * emulators' request ledgers and webhook delivery logs. A scenario that fails on a silent stall
 * (nothing logged while nothing moves) is explained by where this says the items stopped.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipelineStatus } from '../../services/app/launcher.ts';
import type { ChaosWorld } from './world.ts';

async function attempt<T>(what: string, f: () => Promise<T>): Promise<T | { failed: string }> {
  try {
    return await f();
  } catch (err) {
    return { failed: `${what}: ${(err as Error).message}` };
  }
}

async function rows(w: ChaosWorld, sql: string): Promise<unknown> {
  return attempt(sql, async () => (await w.db.query(sql)).rows);
}

/** Writes `<world dir>/diagnosis/…`; never throws (it runs while a failure is being reported). */
export async function writeDiagnosis(w: ChaosWorld): Promise<string> {
  const dir = join(w.dir, 'pipeline');
  const out: Record<string, unknown> = { atMs: Date.now(), at: new Date().toISOString() };
  const status = await attempt('pipeline status', () => pipelineStatus(w.pipeline, w.config));
  out['services'] = status;
  if (Array.isArray(status))
    for (const s of status) {
      const text = await attempt(`${s.name} /metrics`, async () => {
        const res = await fetch(`${s.url}/metrics`, { signal: AbortSignal.timeout(5000) });
        return res.text();
      });
      writeFileSync(
        join(dir, `${s.name}.metrics.txt`),
        typeof text === 'string' ? text : JSON.stringify(text),
      );
    }
  out['db'] = {
    links: await rows(
      w,
      `select link_id, status, updated_at,
              jsonb_path_exists(state, '$.fields.*.sides.*.pending[*]') as pending
         from reconciler_links
        where status <> 'active' or jsonb_path_exists(state, '$.fields.*.sides.*.pending[*]')`,
    ),
    unsentOutbox: await rows(
      w,
      'select id::text, topic, key, created_at from reconciler_outbox where sent_at is null order by id',
    ),
    linkCounts: await rows(w, 'select status, count(*)::int as n from reconciler_links group by 1'),
    aside: await rows(w, 'select * from reconciler_aside'),
    seenEvents: await rows(w, 'select count(*)::int as n from reconciler_seen_events'),
    openConflicts: await rows(
      w,
      "select conflict_id, link_id, field, record from reconciler_conflicts where status <> 'resolved'",
    ),
    outbox: await rows(w, 'select count(*)::int as rows, max(sent_at) as last_sent from reconciler_outbox'),
    applied: await rows(
      w,
      `select platform, outcome->>'status' as status, count(*)::int as n, max(applied_at) as last
         from egress_applied group by 1, 2 order by 1, 2`,
    ),
    auditUnpublished: await rows(
      w,
      'select platform, count(*)::int as n from audit_log where published_at is null group by 1',
    ),
  };
  for (const [name, control] of [
    ['linear', w.linearControl],
    ['jira', w.jiraControl],
  ] as const) {
    out[name] = {
      ledger: await attempt('ledger', async () => (await control.ledger(w.startSeq[name])).entries),
      deliveries: await attempt('deliveries', () => control.deliveries()),
    };
  }
  const file = join(dir, 'diagnosis.json');
  writeFileSync(file, JSON.stringify(out, null, 2));
  return file;
}
