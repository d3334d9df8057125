/**
 * `lockstep verify [--flow <id>] [--repair] [--json]`: reads every linked record on every side
 * through its connector's reader and compares each field with the link's base (services/ops/verify.ts
 * holds the comparison and the repair events; this file gathers: links from Postgres, reads under
 * the platforms' request budgets, the scope scan through the pollers, the repair's produce).
 *
 * Exit codes: 0 everything in step; 2 drift, a record that no longer exists or an unlinked item was
 * found (with or without --repair); 1 the run could not complete (a bad argument, an unknown flow,
 * a read that failed).
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import {
  boundConnectors,
  loadAppConfig,
  peopleDirectory,
  rateLimitFor,
  type AppConfig,
} from '../../app/config.ts';
import { canonicalLabelOn } from '../../connectors/registry.ts';
import type { BoundConnector, Reader, ReadResult } from '../../connectors/types.ts';
import { createPool, type Pool } from '../../core/db/index.ts';
import { RateBudget } from '../../core/resilience/index.ts';
import { publishChangeEvents } from '../../ops/publish.ts';
import {
  compareLink,
  deleteEvent,
  exitCode,
  renderText,
  repairEvent,
  type Unlinked,
  type VerifyReport,
} from '../../ops/verify.ts';
import type { Flow } from '../../reconciler/flow.ts';
import type { LinkState } from '../../reconciler/state.ts';
import type { ChangeEvent } from '../../../schemas/generated/types.ts';

interface VerifyOpts {
  config?: string;
  flow?: string;
  repair?: boolean;
  json?: boolean;
  unlinked: boolean;
  share: number;
  concurrency: number;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Pages a scope scan reads at most, per platform: a bound, so a runaway cursor cannot loop forever. */
const MAX_SCAN_PAGES = 10_000;

/** Progress on stderr: a line at most every 2 s (and at the end), for people watching a long run. */
function progress(total: number, quiet: boolean) {
  const start = Date.now();
  let last = 0;
  let done = 0;
  const line = () => {
    const s = (Date.now() - start) / 1000;
    const rate = s > 0 ? done / s : 0;
    const eta = rate > 0 ? Math.round((total - done) / rate) : null;
    process.stderr.write(
      `verify: ${done}/${total} links read (${rate.toFixed(1)}/s${eta !== null && done < total ? `, ~${eta} s left` : ''})\n`,
    );
  };
  return {
    tick() {
      done++;
      if (quiet) return;
      if (Date.now() - last >= 2000) {
        last = Date.now();
        line();
      }
    },
    end() {
      if (!quiet && total > 0) line();
    },
  };
}

async function loadLinks(pool: Pool, flowIds: string[]): Promise<LinkState[]> {
  const r = await pool.query<{ state: LinkState }>(
    'select state from reconciler_links where flow_id = any($1::text[]) order by flow_id, link_id',
    [flowIds],
  );
  return r.rows.map((row) => row.state);
}

/** The flow the option names, or every flow; a clear error for a name the configuration lacks. */
export function pickFlows(config: AppConfig, flowId: string | undefined): Flow[] {
  if (config.flows.length === 0) throw new Error('verify: lockstep.yaml has no flows to verify');
  if (flowId === undefined) return config.flows;
  const flow = config.flows.find((f) => f.id === flowId);
  if (!flow)
    throw new Error(
      `verify: no flow ${JSON.stringify(flowId)} in lockstep.yaml (its flows: ${config.flows.map((f) => f.id).join(', ')})`,
    );
  return [flow];
}

/** Items of each flow side's workspace with no link, found by a full poll from the start of the poll window. */
async function scanScope(
  flows: Flow[],
  readers: Map<string, { connector: BoundConnector; reader: Reader; budget: RateBudget }>,
  linked: Set<string>,
  report: VerifyReport,
): Promise<Unlinked[]> {
  const out: Unlinked[] = [];
  for (const [platform, { connector, budget }] of readers) {
    const sides = flows.flatMap((f) =>
      f.sides
        .filter((s) => s.platform === platform && s.entityType === 'issue')
        .map((s) => ({ flow: f, side: s })),
    );
    if (sides.length === 0) continue;
    const poller = connector.createPoller(null, budget);
    const found = new Map<string, ChangeEvent>();
    try {
      let cursor = null;
      for (let page = 0; page < MAX_SCAN_PAGES; page++) {
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

export async function runVerify(opts: VerifyOpts): Promise<VerifyReport> {
  const config = loadAppConfig(opts.config);
  const flows = pickFlows(config, opts.flow);
  const started = Date.now();
  const runId = `${new Date(started).toISOString()}-${randomBytes(3).toString('hex')}`;
  const connectors = boundConnectors(config);
  // Verify shares each platform's limit with live sync, which keeps priority: it reads at a share
  // of the platform's budget (`--share`), and the platform's rate-limit headers slow it further.
  const readers = new Map<string, { connector: BoundConnector; reader: Reader; budget: RateBudget }>();
  for (const [platform, connector] of connectors) {
    const l = rateLimitFor(config, platform);
    const budget = new RateBudget({ limit: Math.max(1, Math.floor(l.limit * opts.share)), perMs: l.perMs });
    readers.set(platform, { connector, reader: connector.createReader(null, budget), budget });
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
  const pool = createPool(config.postgres.url, { max: 1, applicationName: 'lockstep-cli-verify' });
  const repairs: { event: ChangeEvent; linkId: string }[] = [];
  let all: LinkState[];
  try {
    all = await loadLinks(
      pool,
      flows.map((f) => f.id),
    );
  } finally {
    await pool.end();
  }
  const byId = new Map(all.map((l) => [l.linkId, l]));
  const flowOf = new Map(flows.map((f) => [f.id, f]));
  const active = all.filter((l) => l.status === 'active');
  report.links.pending = all.filter((l) => l.status === 'pending').length;
  report.links.closed = all.filter((l) => l.status === 'unlinked' || l.status === 'deleted').length;

  // Progress for a run long enough to watch; a terminal always gets it.
  const bar = progress(active.length, active.length < 20 && !process.stderr.isTTY);
  const source = { via: 'backfill' as const, deliveryId: `lockstep-verify:${runId}` };
  const verifyOne = async (link: LinkState) => {
    const flow = flowOf.get(link.flowId)!;
    const parent = link.parentLinkId ? byId.get(link.parentLinkId) : undefined;
    const reads = new Map<string, ReadResult>();
    for (const side of link.sides) {
      if (side.entityId === null) continue;
      const reader = readers.get(side.platform);
      if (!reader) {
        report.errors.push({
          linkId: link.linkId,
          platform: side.platform,
          message: `no connector configured for ${side.platform}`,
        });
        continue;
      }
      const parentId = parent?.sides.find((s) => s.platform === side.platform)?.entityId ?? null;
      try {
        const r = await reader.reader.read(
          { entityType: side.entityType, entityId: side.entityId, parentId },
          source,
        );
        reads.set(side.platform, r);
      } catch (err) {
        report.errors.push({
          linkId: link.linkId,
          platform: side.platform,
          message: `reading ${side.entityType} ${side.entityKey ?? side.entityId}: ${reader.connector.describeError(err)}`,
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
          event: deleteEvent(link, { ...side, entityId: m.entityId }, parentId, runId, Date.now()),
          linkId: link.linkId,
        });
      }
    }
    bar.tick();
  };
  // A few links at a time: the budgets, not this number, bound the request rate.
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(opts.concurrency, active.length) }, async () => {
      while (next < active.length) await verifyOne(active[next++]!);
    }),
  );
  bar.end();

  if (opts.unlinked) {
    const linked = new Set(
      all.flatMap((l) =>
        l.sides
          .filter((s) => s.entityId !== null)
          .map((s) => `${l.flowId}\u0000${s.platform}\u0000${s.entityId}`),
      ),
    );
    report.unlinked = await scanScope(flows, readers, linked, report);
  }

  if (opts.repair) {
    report.repair = { published: 0, events: [] };
    // Oldest platform change first, as the platform made them.
    repairs.sort((a, b) => a.event.source.tsMs - b.event.source.tsMs);
    const linkOf = new Map(repairs.map((r) => [r.event, r.linkId]));
    report.repair.published = await publishChangeEvents(
      config,
      repairs.map((r) => r.event),
      'verify',
      {
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
  report.durationMs = Date.now() - started;
  return report;
}

function number(name: string, min: number, max: number, integer: boolean) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n)))
      throw new Error(
        `${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${v}`,
      );
    return n;
  };
}

export function register(program: Command): void {
  program
    .command('verify')
    .description(
      'read every linked item on every side and compare each field with the base: drift, deleted items, unlinked items (exit 2 when found)',
    )
    .option('-c, --config <file>', 'lockstep.yaml')
    .option('--flow <id>', 'verify one flow (default: every flow)')
    .option(
      '--repair',
      "hand the drift to the reconciler (settled by each field's policy) and deleted items to onDelete",
    )
    .option('--no-unlinked', "skip the scan for items in a flow's scope with no link (it reads every item)")
    .option(
      '--share <0..1>',
      "share of each platform's request budget verify may use",
      number('--share', 0.01, 1, false),
      0.5,
    )
    .option('--concurrency <n>', 'links read at once', number('--concurrency', 1, 64, true), 4)
    .option('--json', 'the report as one JSON object')
    .action(async (opts: VerifyOpts) => {
      const report = await runVerify(opts);
      console.log(opts.json ? JSON.stringify(report) : renderText(report));
      process.exitCode = exitCode(report);
    });
}
