/**
 * What the status page shows, gathered on each request: every service's /readyz and /metrics
 * (breaker state, consumer lag), the reconciler's Postgres store (latest syncs with their trace
 * ids, open conflicts), egress's applied-command records (recent sync rate) and the dead-letter
 * topic (through `lockstep dlq`'s reader). A part that cannot be read is reported as unreadable,
 * never as zero. Nothing here reads a credential.
 */
import type { AppConfig } from '../app/config.ts';
import { flowPlatforms, pipelineServices } from '../app/launcher.ts';
import type { Pool } from '../core/db/index.ts';
import { loadDeadLetters, summary, type Ctx as DlqCtx } from '../cli/commands/dlq.ts';
import type { ConflictRow, ReconcilerStore } from '../reconciler/store.ts';
import type { WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import { traceIdOf } from './trace.ts';

/** Window of the "recent sync rate". */
export const RECENT_MS = 15 * 60 * 1000;

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ServiceHealth {
  name: string;
  url: string;
  ready: boolean;
  /** Why not ready: the failing checks, or that it did not answer. */
  detail: string | null;
  metrics: Sample[] | null;
}

export interface PlatformStatus {
  platform: string;
  service: string;
  ready: boolean;
  /** null: the egress did not answer /metrics. */
  breakerOpen: boolean | null;
  lag: number | null;
  recentSyncs: number | null;
}

export interface FlowStatus {
  id: string;
  sides: { platform: string; workspace: string }[];
  openConflicts: number | null;
  recentSyncs: number | null;
}

export interface SyncView {
  commandId: string;
  flowId: string;
  linkId: string;
  platform: string;
  action: string;
  entityType: string;
  fields: string[];
  decidedAt: string;
  /** applied, already_applied, skipped_stale, failed (egress's outcome); pending; dead-lettered. */
  status: string;
  appliedAt: string | null;
  targetId: string | null;
  traceId: string | null;
}

export interface DeadLetterView {
  id: string;
  state: string;
  stateBy: string | null;
  stage: string;
  topic: string;
  category: string;
  reason: string;
  attempts: number;
  deadLetteredAt: string;
}

export type Part<T> = { ok: true; value: T } | { ok: false; error: string };

export interface Status {
  generatedAt: string;
  recentWindowMinutes: number;
  services: ServiceHealth[];
  /** Reconciler consumer lag (changes + outcomes), shared by every flow. */
  reconcilerLag: number | null;
  platforms: PlatformStatus[];
  flows: FlowStatus[];
  syncs: Part<SyncView[]>;
  conflicts: Part<ConflictRow[]>;
  deadLetters: Part<DeadLetterView[]>;
}

export interface StatusDeps {
  config: AppConfig;
  pool: Pool;
  store: ReconcilerStore;
  dlq: DlqCtx;
}

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * The samples of Prometheus' text exposition format (what prom-client writes): `name{l="v"} value`.
 * Only what the page reads; comments, timestamps and exemplars are ignored.
 */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL))
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

function sum(samples: Sample[] | null, name: string, labels: Record<string, string> = {}): number | null {
  if (!samples) return null;
  const hits = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return hits.length === 0 ? null : hits.reduce((a, s) => a + s.value, 0);
}

async function probe(name: string, url: string): Promise<ServiceHealth> {
  let ready = false;
  let detail: string | null = null;
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3000) });
    ready = res.ok;
    if (!ready) {
      const body = (await res.json().catch(() => null)) as {
        status?: string;
        checks?: Record<string, { ok: boolean; error?: string }>;
      } | null;
      const failing = Object.entries(body?.checks ?? {})
        .filter(([, c]) => !c.ok)
        .map(([n, c]) => `${n}: ${c.error ?? 'failing'}`);
      detail = failing.join('; ') || body?.status || `HTTP ${res.status}`;
    }
  } catch (err) {
    detail = `not answering (${err instanceof Error ? err.message : String(err)})`;
  }
  let metrics: Sample[] | null = null;
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (res.ok) metrics = parseMetrics(await res.text());
    else await res.body?.cancel();
  } catch {
    metrics = null;
  }
  return { name, url, ready, detail, metrics };
}

function part<T>(what: string, p: Promise<T>): Promise<Part<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({
      ok: false as const,
      error: `reading ${what}: ${err instanceof Error ? err.message : String(err)}`,
    }),
  );
}

export function serviceUrl(config: AppConfig, name: string, port: number): string {
  return (config.admin.serviceUrls[name] ?? `http://${config.http.host}:${port}`).replace(/\/+$/, '');
}

async function latestSyncs(pool: Pool, limit: number): Promise<SyncView[]> {
  // The reconciler's outbox holds every write command it decided, with the trace context of the
  // decision (one sync is one trace); egress's record of the applied command says what came of it.
  const r = await pool.query<{
    payload: WriteCommand;
    trace_headers: Record<string, string> | null;
    created_at: Date;
    dead_letter: string | null;
    outcome: WriteOutcome | null;
    applied_at: Date | null;
  }>(
    `select o.payload, o.trace_headers, o.created_at, o.dead_letter, a.outcome, a.applied_at
       from reconciler_outbox o
       left join egress_applied a on a.command_id = o.payload->>'commandId'
      where o.schema = 'WriteCommand'
      order by o.id desc limit $1`,
    [limit],
  );
  return r.rows.map((row) => {
    const c = row.payload;
    return {
      commandId: c.commandId,
      flowId: c.flowId,
      linkId: c.linkId,
      platform: c.platform,
      action: c.action,
      entityType: c.entityType,
      fields: [...(c.fields?.known ?? [])].sort(),
      decidedAt: row.created_at.toISOString(),
      status: row.dead_letter !== null ? 'dead-lettered' : (row.outcome?.status ?? 'pending'),
      appliedAt: row.applied_at?.toISOString() ?? null,
      targetId: row.outcome?.targetId ?? c.targetId,
      traceId: traceIdOf(row.trace_headers?.['traceparent']),
    };
  });
}

async function recentSyncCounts(pool: Pool): Promise<{ platform: string; flow: string; n: number }[]> {
  const r = await pool.query<{ platform: string; flow: string; n: number }>(
    `select platform, outcome->>'flowId' as flow, count(*)::int as n from egress_applied
      where applied_at > now() - ($1::int * interval '1 millisecond') and outcome->>'status' = 'applied'
      group by 1, 2`,
    [RECENT_MS],
  );
  return r.rows;
}

export async function gatherStatus(deps: StatusDeps): Promise<Status> {
  const { config, pool, store, dlq } = deps;
  const specs = pipelineServices(config);
  const [services, syncs, conflicts, counts, deadLetters] = await Promise.all([
    Promise.all(specs.map((s) => probe(s.name, serviceUrl(config, s.name, s.port)))),
    part('the latest syncs', latestSyncs(pool, 25)),
    part('the open conflicts', store.conflicts({ status: 'open' })),
    part('the recent syncs', recentSyncCounts(pool)),
    part(
      'the dead letters',
      loadDeadLetters(dlq).then((entries) => {
        const now = Date.now();
        return entries
          .map((e) => summary(e, dlq.topic, now))
          .reverse()
          .slice(0, 50)
          .map((s): DeadLetterView => ({
            id: s.id,
            state: s.state,
            stateBy: s.stateBy,
            stage: s.stage,
            topic: s.topic,
            category: s.category,
            reason: s.reason,
            attempts: s.attempts,
            deadLetteredAt: s.deadLetteredAt,
          }));
      }),
    ),
  ]);
  const svc = (name: string) => services.find((s) => s.name === name);
  const clientId = config.kafka.clientId;
  const reconciler = svc('reconciler');
  const platforms = flowPlatforms(config).map((platform): PlatformStatus => {
    const egress = svc(`egress-${platform}`);
    const metrics = egress?.metrics ?? null;
    const breaker = sum(metrics, 'lockstep_egress_breaker_open', { platform });
    return {
      platform,
      service: `egress-${platform}`,
      ready: egress?.ready ?? false,
      breakerOpen: breaker === null ? null : breaker > 0,
      lag: sum(metrics, 'lockstep_consumer_lag', { group: `${clientId}-egress-${platform}` }),
      recentSyncs: counts.ok
        ? counts.value.filter((c) => c.platform === platform).reduce((a, c) => a + c.n, 0)
        : null,
    };
  });
  const openByFlow = sum(reconciler?.metrics ?? null, 'lockstep_reconciler_conflicts_open');
  const flows = config.flows.map((f): FlowStatus => ({
    id: f.id,
    sides: f.sides.map((s) => ({ platform: s.platform, workspace: s.workspace })),
    // From the store, so the count is there while the reconciler is down.
    openConflicts: conflicts.ok
      ? conflicts.value.filter((c) => c.flowId === f.id).length
      : openByFlow === null
        ? null
        : (sum(reconciler?.metrics ?? null, 'lockstep_reconciler_conflicts_open', { flow: f.id }) ?? 0),
    recentSyncs: counts.ok ? counts.value.filter((c) => c.flow === f.id).reduce((a, c) => a + c.n, 0) : null,
  }));
  return {
    generatedAt: new Date().toISOString(),
    recentWindowMinutes: RECENT_MS / 60_000,
    services,
    reconcilerLag: sum(reconciler?.metrics ?? null, 'lockstep_consumer_lag', {
      group: `${clientId}-reconciler`,
    }),
    platforms,
    flows,
    syncs,
    conflicts,
    deadLetters,
  };
}
