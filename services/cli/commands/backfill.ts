/**
 * `lockstep backfill --flow <id> [--since <time>] [--match <rules>] [--dry-run] [--json]`: the first
 * sync of records that exist already. Reads every record of the flow's sides through the
 * connectors' pollers (at a share of each platform's request budget, like verify), pairs those
 * that correspond (services/ops/backfill.ts), links each pair through the reconciler's own
 * decision in one store transaction (reconciler/process.ts processPair: agreeing fields become the
 * base with no write, differing ones are settled by the field's policy and their commands queued
 * in the outbox for the running reconciler to publish), and publishes each unmatched record's
 * read on the changes topic, so the live pipeline creates it on the other sides.
 *
 * Resumable: a record already linked in the flow is skipped, pair link ids are derived from the
 * records, and an unmatched record's event id from its read, so a second run (or one after a
 * crash) pairs nothing twice and the reconciler drops a repeated create event.
 *
 * Exit codes: 0 done; 2 ambiguous matches were found and left; 1 the run could not complete.
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { boundConnectors, loadAppConfig, peopleDirectory, rateLimitFor } from '../../app/config.ts';
import { canonicalLabelOn } from '../../connectors/registry.ts';
import type { BoundConnector } from '../../connectors/types.ts';
import { createPool } from '../../core/db/index.ts';
import { RateBudget } from '../../core/resilience/index.ts';
import { parseSince } from '../../egress/audit.ts';
import { createProgress } from '../progress.ts';
import { recordBackfill } from '../../reconciler/flow-starts.ts';
import {
  MATCH_RULES,
  parseMatch,
  planPairs,
  refOf,
  type Ambiguous,
  type ItemRef,
  type MatchRule,
} from '../../ops/backfill.ts';
import { publishChangeEvents } from '../../ops/publish.ts';
import { repairEvent } from '../../ops/verify.ts';
import { deterministicId } from '../../reconciler/ids.ts';
import { processPair, type PairOutcome } from '../../reconciler/process.ts';
import { createReconcilerStore } from '../../reconciler/store.ts';
import type { ChangeEvent } from '../../../schemas/generated/types.ts';

interface BackfillOpts {
  config?: string;
  flow?: string;
  since?: string;
  match: string;
  dryRun?: boolean;
  json?: boolean;
  share: number;
}

export interface BackfillWrite {
  platform: string;
  targetKey: string | null;
  fields: string[];
  commandId: string;
}

export interface BackfillReport {
  flow: string;
  dryRun: boolean;
  match: MatchRule[];
  scanned: Record<string, number>;
  /** Records skipped because they have a link in the flow already. */
  alreadyLinked: number;
  paired: {
    rule: MatchRule;
    linkId: string | null;
    items: ItemRef[];
    writes: BackfillWrite[];
    held: string[];
  }[];
  ambiguous: Ambiguous[];
  /** Records with no counterpart, handed to the pipeline to create on the other sides. */
  created: ItemRef[];
  /** Pairs left because a record was linked meanwhile (the live pipeline, another run). */
  skipped: { items: ItemRef[]; reason: string }[];
  durationMs: number;
}

/** A page of the scan at most: a bound, so a runaway cursor cannot loop forever. */
const MAX_SCAN_PAGES = 10_000;

class DryRun extends Error {
  readonly outcome: PairOutcome;
  constructor(outcome: PairOutcome) {
    super('dry run');
    this.outcome = outcome;
  }
}

export async function runBackfill(opts: BackfillOpts): Promise<BackfillReport> {
  const started = Date.now();
  if (opts.flow === undefined) throw new Error('backfill: --flow <id> is required (one flow at a time)');
  const match = parseMatch(opts.match);
  const sinceMs = opts.since !== undefined ? parseSince(opts.since, started) : null;
  const config = loadAppConfig(opts.config);
  const flow = config.flows.find((f) => f.id === opts.flow);
  if (!flow)
    throw new Error(
      `backfill: no flow ${JSON.stringify(opts.flow)} in lockstep.yaml (its flows: ${config.flows.map((f) => f.id).join(', ') || 'none'})`,
    );
  const runId = `${new Date(started).toISOString()}-${randomBytes(3).toString('hex')}`;
  const connectors = boundConnectors(config);
  const bar = createProgress('backfill', { json: opts.json === true });
  const counts = { phase: 'scan', scanned: 0, paired: 0, created: 0 };
  // Scanning has no known total; pairing and creating count through the plan.
  let done = 0;
  let total: number | undefined;
  const tick = (force = false) =>
    bar.update(
      {
        phase: counts.phase,
        counts: { scanned: counts.scanned, paired: counts.paired, 'to create': counts.created },
        done: counts.phase === 'scan' ? counts.scanned : done,
        ...(total !== undefined && { total }),
      },
      force,
    );
  const report: BackfillReport = {
    flow: flow.id,
    dryRun: opts.dryRun === true,
    match,
    scanned: {},
    alreadyLinked: 0,
    paired: [],
    ambiguous: [],
    created: [],
    skipped: [],
    durationMs: 0,
  };
  const pool = createPool(config.postgres.url, { max: 2, applicationName: 'lockstep-cli-backfill' });
  try {
    const linkedRows = await pool.query<{ platform: string; entity_id: string }>(
      'select platform, entity_id from reconciler_link_entities where flow_id = $1',
      [flow.id],
    );
    const linked = new Set(linkedRows.rows.map((r) => `${r.platform}\u0000${r.entity_id}`));
    // Every record of each side, through the poller from the start of its window, at a share of
    // the platform's budget: live sync keeps the rest.
    const items = new Map<string, ChangeEvent[]>();
    const links = new Map<string, string[]>();
    const byPlatform = new Map<string, BoundConnector>();
    for (const side of flow.sides) {
      const connector = connectors.get(side.platform);
      if (!connector)
        throw new Error(`backfill: flow ${flow.id} has a ${side.platform} side and no connector for it`);
      byPlatform.set(side.platform, connector);
      const l = rateLimitFor(config, side.platform);
      const budget = new RateBudget({ limit: Math.max(1, Math.floor(l.limit * opts.share)), perMs: l.perMs });
      const poller = connector.createPoller(null, budget);
      const found = new Map<string, ChangeEvent>();
      let cursor = null;
      for (let page = 0; page < MAX_SCAN_PAGES; page++) {
        const r = await poller.poll(cursor);
        for (const e of r.events) {
          if (e.source.entityType !== 'issue') continue;
          if (!found.has(e.source.entityId)) counts.scanned++;
          found.set(e.source.entityId, e);
        }
        tick();
        cursor = r.cursor;
        if (r.caughtUp) break;
      }
      const mine: ChangeEvent[] = [];
      for (const e of found.values()) {
        if (e.source.workspace !== side.workspace || e.op === 'd' || e.after === null) continue;
        if (linked.has(`${side.platform}\u0000${e.source.entityId}`)) {
          report.alreadyLinked++;
          continue;
        }
        if (sinceMs !== null && e.source.tsMs < sinceMs) continue;
        // A record Lockstep created (its marker) is linked by the pipeline, never paired.
        if (e.source.marker !== null) continue;
        mine.push({
          ...e,
          op: 'r',
          source: { ...e.source, via: 'backfill', deliveryId: `lockstep-backfill:${runId}` },
        });
      }
      items.set(side.platform, mine);
      if (match.includes('link'))
        for (const [id, urls] of await connector.readLinks(budget))
          links.set(`${side.platform}\u0000${id}`, urls);
      report.scanned[side.platform] = found.size;
    }
    tick(true);

    const plan = planPairs(
      flow,
      items,
      match,
      (platform, text) => byPlatform.get(platform)?.mentions(text) ?? [],
      (e) => links.get(`${e.source.platform}\u0000${e.source.entityId}`) ?? [],
    );
    report.ambiguous = plan.ambiguous;
    counts.created = plan.unmatched.length;
    total = plan.pairs.length;
    counts.phase = opts.dryRun ? 'plan (dry run)' : 'pair';
    const store = createReconcilerStore(pool);
    const deps = {
      flows: config.flows,
      topics: config.kafka.topics,
      ids: deterministicId,
      now: Date.now,
      canonicalLabel: canonicalLabelOn,
      people: peopleDirectory(config),
    };
    const by = `backfill by ${process.env['USER'] ?? 'cli'}`;
    for (const pair of plan.pairs) {
      let out: PairOutcome;
      if (opts.dryRun) {
        out = await store
          .transaction(async (tx) => {
            throw new DryRun(await processPair(tx, deps, flow.id, pair.reads, by));
          })
          .catch((err: unknown) => {
            if (err instanceof DryRun) return err.outcome;
            throw err;
          });
      } else {
        out = await store.transaction((tx) => processPair(tx, deps, flow.id, pair.reads, by));
      }
      const itemsOf = pair.reads.map(refOf);
      done++;
      if (!out.ok) {
        tick();
        report.skipped.push({ items: itemsOf, reason: out.error });
        continue;
      }
      counts.paired++;
      report.paired.push({
        rule: pair.rule,
        linkId: out.linkId,
        items: itemsOf,
        writes: out.processed.commands.map((c) => ({
          platform: c.platform,
          targetKey: pair.reads.find((r) => r.source.platform === c.platform)?.source.entityKey ?? c.targetId,
          fields: [...c.fields.known].sort(),
          commandId: c.commandId,
        })),
        held: out.processed.notes.filter((n) => n.code === 'held').map((n) => n.field ?? ''),
      });
      tick();
    }

    report.created = plan.unmatched.map(refOf);
    if (!opts.dryRun && plan.unmatched.length > 0) {
      done = 0;
      total = plan.unmatched.length;
      counts.phase = 'create';
      tick();
      // As a create (op r), with an event id derived from the read: a repeat is dropped.
      await publishChangeEvents(
        config,
        plan.unmatched.map((e) => repairEvent(e, runId)),
        'backfill',
        {
          onPublished: () => {
            done++;
            tick();
          },
        },
      );
    }
    bar.finish();
    // Complete: the items that existed before the flow began are paired, created or reported.
    if (!opts.dryRun) await recordBackfill(pool, flow.id);
  } finally {
    await pool.end();
  }
  report.durationMs = Date.now() - started;
  return report;
}

function renderText(r: BackfillReport): string {
  const lines: string[] = [];
  const verb = r.dryRun ? 'would ' : '';
  const item = (i: ItemRef) => `${i.platform}:${i.entityKey ?? i.entityId}`;
  lines.push(
    `${r.dryRun ? 'dry run: ' : ''}flow ${r.flow}: scanned ${Object.entries(r.scanned)
      .map(([p, n]) => `${n} on ${p}`)
      .join(', ')} in ${(r.durationMs / 1000).toFixed(1)} s; ${r.alreadyLinked} already linked`,
  );
  const writes = r.paired.flatMap((p) => p.writes);
  lines.push(
    `${verb}pair ${r.paired.length} (${writes.length} writes for differing fields), ${verb}create ${r.created.length}, ${r.ambiguous.length} ambiguous left alone`,
  );
  for (const p of r.paired)
    for (const w of p.writes)
      lines.push(
        `  ${verb}write ${w.fields.join(', ')} to ${w.platform}:${w.targetKey ?? '?'} (${p.items.map(item).join(' ↔ ')})`,
      );
  for (const p of r.paired)
    for (const f of p.held)
      lines.push(`  ${f} differs on ${p.items.map(item).join(' ↔ ')}: held as a conflict for a person`);
  for (const a of r.ambiguous)
    lines.push(
      `  ambiguous (${a.rule}): ${item(a.item)} "${a.item.title ?? ''}" has ${a.candidates.length} candidates: ${a.candidates.map(item).join(', ')}`,
    );
  for (const c of r.created) lines.push(`  ${verb}create from ${item(c)} "${c.title ?? ''}"`);
  for (const s of r.skipped) lines.push(`  left ${s.items.map(item).join(' ↔ ')}: ${s.reason}`);
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('backfill')
    .description(
      "the first sync of a flow's existing items: pair those that already correspond (a link another tool left, then the same title), write only the fields that differ, create the rest (exit 2 when ambiguous matches were left)",
    )
    .option('-c, --config <file>', 'lockstep.yaml')
    .option('--flow <id>', 'the flow to backfill (required)')
    .option('--since <time>', 'only items updated since (30m, 2h, 7d or a date/time)')
    .option(
      '--match <rules>',
      `pairing rules in order, comma-separated (${MATCH_RULES.join(', ')})`,
      'link,title',
    )
    .option('--dry-run', 'print what it would pair, create and write; write nothing')
    .option(
      '--share <0..1>',
      "share of each platform's request budget backfill may use",
      (v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0.01 || n > 1)
          throw new Error(`--share must be a number from 0.01 to 1, got ${v}`);
        return n;
      },
      0.5,
    )
    .option(
      '--json',
      'the report as one JSON object on stdout (progress: a bar on a terminal, else JSON lines on stderr)',
    )
    .action(async (opts: BackfillOpts) => {
      const report = await runBackfill(opts);
      console.log(opts.json ? JSON.stringify(report) : renderText(report));
      process.exitCode = report.ambiguous.length > 0 ? 2 : 0;
    });
}
