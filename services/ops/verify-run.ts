/**
 * One verify run: the links from Postgres, every linked record read through its connector's
 * reader under a share of the platform's request budget, each compared with its link's base
 * (verify.ts), the optional scan for unlinked items through the pollers, and the optional repair's
 * publish. Used by `lockstep verify` (services/cli/commands/verify.ts) and by the reconciler's
 * scheduled audit (verify-schedule.ts); no platform is named here.
 *
 * A read that fails is an error of the run (the report is incomplete for that link), never a
 * throw: only Postgres and Kafka failures (loading the links, publishing the repair) throw.
 * `readRetry` retries a retriable read failure (network, 5xx, 429 with its Retry-After); after
 * `giveUpAfter` failed reads in a row on one platform, the rest of that platform's reads in this
 * run are skipped and reported, so a platform that is down costs a few requests, not one per link.
 */
import { randomBytes } from 'node:crypto';
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import { boundConnectors, peopleDirectory, rateLimitFor, type AppConfig } from '../app/config.ts';
import { canonicalLabelOn } from '../connectors/registry.ts';
import type { BoundConnector, Reader, ReadResult } from '../connectors/types.ts';
import { createPool, type Pool } from '../core/db/index.ts';
import type { LockstepProducer } from '../core/kafka/index.ts';
import { backoffDelay, RateBudget } from '../core/resilience/index.ts';
import type { Flow } from '../reconciler/flow.ts';
import type { LinkState } from '../reconciler/state.ts';
import { publishChangeEvents } from './publish.ts';
import { compareLink, deleteEvent, repairEvent, type Unlinked, type VerifyReport } from './verify.ts';

export interface VerifyRunOptions {
  flows: Flow[];
  repair: boolean;
  /** Scan each flow's scope for items with no link (reads every item through the pollers). */
  unlinked: boolean;
  /** Share of each platform's request budget (0..1]: live sync keeps the rest. */
  share: number;
  /** Links read at once (the budgets, not this number, bound the request rate). */
  concurrency: number;
  /** Defaults to a new pool of one connection, closed at the end. */
  pool?: Pool;
  /** Defaults to a producer made for the repair's publish. */
  producer?: LockstepProducer;
  runId?: string;
  /** Tries per read for a retriable failure (default 1: no retry). */
  readRetry?: { attempts: number; baseMs: number; maxMs: number };
  /** Failed reads in a row after which a platform is not read again in this run (default: never). */
  giveUpAfter?: number;
  /** Stops reading (the report says what was checked so far) when aborted. */
  signal?: AbortSignal;
  onLinkDone?: (done: number, total: number) => void;
  onReadError?: (platform: string, category: string) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Pages a scope scan reads at most, per platform: a bound, so a runaway cursor cannot loop forever. */
const MAX_SCAN_PAGES = 10_000;

export function newRunId(nowMs: number): string {
  return `${new Date(nowMs).toISOString()}-${randomBytes(3).toString('hex')}`;
}

async function loadLinks(pool: Pool, flowIds: string[]): Promise<LinkState[]> {
  const r = await pool.query<{ state: LinkState }>(
    'select state from reconciler_links where flow_id = any($1::text[]) order by flow_id, link_id',
    [flowIds],
  );
  return r.rows.map((row) => row.state);
}

interface PlatformReader {
  connector: BoundConnector;
  reader: Reader;
  budget: RateBudget;
  failedInARow: number;
  gaveUp: string | null;
}

/** Items of each flow side's workspace with no link, found by a full poll from the start of the poll window. */
async function scanScope(
  flows: Flow[],
  readers: Map<string, PlatformReader>,
  linked: Set<string>,
  report: VerifyReport,
  signal: AbortSignal | undefined,
): Promise<Unlinked[]> {
  const out: Unlinked[] = [];
  for (const [platform, { connector, budget, gaveUp }] of readers) {
    const sides = flows.flatMap((f) =>
      f.sides
        .filter((s) => s.platform === platform && s.entityType === 'issue')
        .map((s) => ({ flow: f, side: s })),
    );
    if (sides.length === 0) continue;
    if (gaveUp !== null) {
      report.errors.push({ linkId: null, platform, message: `not scanned for unlinked items: ${gaveUp}` });
      continue;
    }
    const poller = connector.createPoller(null, budget);
    const found = new Map<string, ChangeEvent>();
    try {
      let cursor = null;
      for (let page = 0; page < MAX_SCAN_PAGES && !signal?.aborted; page++) {
        const r = await poller.poll(cursor);
        for (const e of r.events) if (e.source.entityType === 'issue') found.set(e.source.entityId, e);
        cursor = r.cursor;
        if (r.caughtUp) break;
      }
    } catch (err) {
      report.errors.push({ linkId: null, platform, message: `scanning for unlinked items: ${message(err)}` });
      continue;
    }
    for (const e of found.values()) {
      for (const { flow, side } of sides) {
        if (e.source.workspace !== side.workspace || e.op === 'd' || e.after === null) continue;
        if (linked.has(`${flow.id}\u0000${platform}\u0000${e.source.entityId}`)) continue;
        out.push({
          flowId: flow.id,
          platform,
          workspace: side.workspace,
          entityId: e.source.entityId,
          entityKey: e.source.entityKey,
          title: e.after.title,
        });
      }
    }
  }
  return out;
}

export async function verifyLinks(config: AppConfig, opts: VerifyRunOptions): Promise<VerifyReport> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const flows = opts.flows;
  const started = now();
  const runId = opts.runId ?? newRunId(started);
  const retryOpts = opts.readRetry ?? { attempts: 1, baseMs: 1000, maxMs: 30_000 };
  const giveUpAfter = opts.giveUpAfter ?? Infinity;
  // Verify shares each platform's limit with live sync, which keeps priority: it reads at a share
  // of the platform's budget, and the platform's rate-limit headers slow it further.
  const readers = new Map<string, PlatformReader>();
  for (const [platform, connector] of boundConnectors(config)) {
    const l = rateLimitFor(config, platform);
    const budget = new RateBudget({ limit: Math.max(1, Math.floor(l.limit * opts.share)), perMs: l.perMs });
    readers.set(platform, {
      connector,
      reader: connector.createReader(null, budget),
      budget,
      failedInARow: 0,
      gaveUp: null,
    });
  }
  const ctx = { canonicalLabel: canonicalLabelOn, people: peopleDirectory(config) };
  const report: VerifyReport = {
    flows: flows.map((f) => f.id),
    links: { checked: 0, pending: 0, closed: 0 },
    drift: [],
    missing: [],
    waiting: [],
    unlinked: null,
    errors: [],
    repair: null,
    durationMs: 0,
  };
  const pool = opts.pool ?? createPool(config.postgres.url, { max: 1, applicationName: 'lockstep-verify' });
  const repairs: { event: ChangeEvent; linkId: string }[] = [];
  let all: LinkState[];
  try {
    all = await loadLinks(
      pool,
      flows.map((f) => f.id),
    );
  } finally {
    if (!opts.pool) await pool.end();
  }
  const byId = new Map(all.map((l) => [l.linkId, l]));
  const flowOf = new Map(flows.map((f) => [f.id, f]));
  const active = all.filter((l) => l.status === 'active');
  report.links.pending = all.filter((l) => l.status === 'pending').length;
  report.links.closed = all.filter((l) => l.status === 'unlinked' || l.status === 'deleted').length;

  const source = { via: 'backfill' as const, deliveryId: `lockstep-verify:${runId}` };
  const read = async (
    p: PlatformReader,
    platform: string,
    ref: Parameters<Reader['read']>[0],
  ): Promise<ReadResult> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await p.reader.read(ref, source);
        p.failedInARow = 0;
        return r;
      } catch (err) {
        const c = p.connector.classifyError(err);
        opts.onReadError?.(platform, c.category);
        if (!c.retriable || attempt >= retryOpts.attempts || opts.signal?.aborted) {
          if (++p.failedInARow >= giveUpAfter && p.gaveUp === null)
            p.gaveUp = `${platform} failed ${p.failedInARow} reads in a row (last: ${p.connector.describeError(err)})`;
          throw err;
        }
        await sleep(backoffDelay(attempt, retryOpts, c.retryAfterMs));
      }
    }
  };
  let done = 0;
  const verifyOne = async (link: LinkState) => {
    const flow = flowOf.get(link.flowId)!;
    const parent = link.parentLinkId ? byId.get(link.parentLinkId) : undefined;
    const reads = new Map<string, ReadResult>();
    for (const side of link.sides) {
      if (side.entityId === null) continue;
      const p = readers.get(side.platform);
      if (!p) {
        report.errors.push({
          linkId: link.linkId,
          platform: side.platform,
          message: `no connector configured for ${side.platform}`,
        });
        continue;
      }
      if (p.gaveUp !== null) {
        report.errors.push({
          linkId: link.linkId,
          platform: side.platform,
          message: `not read: ${p.gaveUp}`,
        });
        continue;
      }
      const parentId = parent?.sides.find((s) => s.platform === side.platform)?.entityId ?? null;
      try {
        reads.set(
          side.platform,
          await read(p, side.platform, { entityType: side.entityType, entityId: side.entityId, parentId }),
        );
      } catch (err) {
        report.errors.push({
          linkId: link.linkId,
          platform: side.platform,
          message: `reading ${side.entityType} ${side.entityKey ?? side.entityId}: ${p.connector.describeError(err)}`,
        });
      }
    }
    const found = compareLink(link, flow, reads, ctx);
    report.drift.push(...found.drift);
    report.missing.push(...found.missing);
    report.waiting.push(...found.waiting);
    report.links.checked++;
    if (opts.repair) {
      const moved = new Set(found.drift.flatMap((d) => d.moved));
      for (const side of link.sides) {
        const r = reads.get(side.platform);
        if (r?.found && moved.has(side.platform))
          repairs.push({ event: repairEvent(r.event, runId), linkId: link.linkId });
      }
      for (const m of found.missing) {
        const side = link.sides.find((s) => s.platform === m.platform)!;
        const parentId = parent?.sides.find((s) => s.platform === m.platform)?.entityId ?? null;
        repairs.push({
          event: deleteEvent(link, { ...side, entityId: m.entityId }, parentId, runId, now()),
          linkId: link.linkId,
        });
      }
    }
    opts.onLinkDone?.(++done, active.length);
  };
  // A few links at a time: the budgets, not this number, bound the request rate.
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(opts.concurrency, active.length) }, async () => {
      while (next < active.length && !opts.signal?.aborted) await verifyOne(active[next++]!);
    }),
  );

  if (opts.unlinked && !opts.signal?.aborted) {
    const linked = new Set(
      all.flatMap((l) =>
        l.sides
          .filter((s) => s.entityId !== null)
          .map((s) => `${l.flowId}\u0000${s.platform}\u0000${s.entityId}`),
      ),
    );
    report.unlinked = await scanScope(flows, readers, linked, report, opts.signal);
  }

  if (opts.repair && !opts.signal?.aborted) {
    report.repair = { published: 0, events: [] };
    // Oldest platform change first, as the platform made them.
    repairs.sort((a, b) => a.event.source.tsMs - b.event.source.tsMs);
    const linkOf = new Map(repairs.map((r) => [r.event, r.linkId]));
    report.repair.published = await publishChangeEvents(
      config,
      repairs.map((r) => r.event),
      'verify',
      {
        ...(opts.producer && { producer: opts.producer }),
        onPublished: (event) =>
          report.repair!.events.push({
            eventId: event.eventId,
            op: event.op,
            platform: event.source.platform,
            entityId: event.source.entityId,
            linkId: linkOf.get(event)!,
          }),
      },
    );
  }
  report.durationMs = now() - started;
  return report;
}
