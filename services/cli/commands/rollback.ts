/**
 * `lockstep rollback --since <when> [--flow <id>] [--item <platform:key>] [--dry-run] [--json]`:
 * puts back what the platforms held before Lockstep's own writes in a window, newest first.
 *
 * It reads the audit log (services/egress/audit.ts): for each field of each item Lockstep wrote
 * since `--since`, the value before its first write in the window and the value its last write
 * left. Each field goes through the reconciler's own decision (reconciler/decide.ts
 * rollbackField) in one transaction per field, like `conflicts resolve`: a field that no longer
 * holds what Lockstep left (a person edited it since) is left as the person set it and reported;
 * otherwise the before-value becomes the field's base and a write command goes into the
 * reconciler's outbox, which the running reconciler publishes to egress. Egress checks the
 * platform still holds Lockstep's value (stale-base) and audits the write with cause `rollback`,
 * so a rollback can itself be rolled back. The other sides keep what they hold.
 *
 * Not undone: creates (rollback does not delete items) and deletes (a deleted item cannot be
 * brought back through the APIs Lockstep uses); they are reported. `--dry-run` decides the same
 * in a transaction that is rolled back: it writes nothing.
 */
import type { Command } from 'commander';
import type { AuditRecord, EntityState } from '../../../schemas/generated/types.ts';
import { loadAppConfig, peopleDirectory } from '../../app/config.ts';
import { canonicalLabelOn } from '../../connectors/registry.ts';
import { entityState } from '../../connectors/types.ts';
import { createPool } from '../../core/db/index.ts';
import { parseItem, parseSince, queryAudit } from '../../egress/audit.ts';
import { SYNCED_FIELDS, type SyncedField } from '../../reconciler/flow.ts';
import { deterministicId } from '../../reconciler/ids.ts';
import { processRollback, type RollbackOutcome } from '../../reconciler/process.ts';
import { createReconcilerStore } from '../../reconciler/store.ts';

/** One field of one item to put back, from the audit log. */
export interface RollbackStep {
  linkId: string;
  flowId: string;
  platform: string;
  target: string;
  field: SyncedField;
  /** JSON of the value before Lockstep's first write in the window. */
  beforeJson: string;
  /** JSON of the value Lockstep's last write in the window left. */
  afterJson: string;
  /** The audit id of that last write. */
  ref: string;
  lastWriteMs: number;
  writes: number;
}

/** A write in the window that rollback does not undo, and why. */
export interface RollbackSkip {
  platform: string;
  target: string;
  field: string;
  action: string;
  why: string;
}

export interface RollbackPlan {
  steps: RollbackStep[];
  skipped: RollbackSkip[];
}

const isSynced = (f: string): f is SyncedField => (SYNCED_FIELDS as readonly string[]).includes(f);
const targetOf = (r: AuditRecord) => `${r.platform}:${r.targetKey ?? r.targetId ?? '?'}`;

/**
 * The fields to put back, newest last write first, from the audit records of the window (oldest
 * first, as queryAudit returns them). Pure. Only `written` records count: a field Lockstep did not
 * change (already held, stale, unresolvable) has nothing to undo.
 */
export function planRollback(records: readonly AuditRecord[]): RollbackPlan {
  const groups = new Map<string, AuditRecord[]>();
  const skipped: RollbackSkip[] = [];
  for (const r of records) {
    const skip = (why: string) =>
      skipped.push({ platform: r.platform, target: targetOf(r), field: r.field, action: r.action, why });
    if (r.result === 'deleted') {
      skip('a delete cannot be undone through the platform APIs: restore the item on the platform');
      continue;
    }
    if (r.result !== 'written') continue;
    if (r.action === 'create') {
      skip('created by Lockstep: rollback does not delete items (delete it by hand if unwanted)');
      continue;
    }
    if (!isSynced(r.field)) {
      skip(`${r.field} is not a field rollback can write`);
      continue;
    }
    const key = JSON.stringify([r.linkId, r.platform, r.targetId ?? r.targetKey, r.field]);
    const g = groups.get(key) ?? [];
    g.push(r);
    groups.set(key, g);
  }
  const steps: RollbackStep[] = [];
  for (const g of groups.values()) {
    const first = g[0]!;
    const last = g.at(-1)!;
    if (first.beforeJson === null || last.afterJson === null) {
      skipped.push({
        platform: first.platform,
        target: targetOf(first),
        field: first.field,
        action: first.action,
        why: 'the value before the write was not recorded',
      });
      continue;
    }
    steps.push({
      linkId: first.linkId,
      flowId: first.flowId,
      platform: first.platform,
      target: targetOf(last),
      field: first.field as SyncedField,
      beforeJson: first.beforeJson,
      afterJson: last.afterJson,
      ref: last.auditId,
      lastWriteMs: last.tsMs,
      writes: g.length,
    });
  }
  steps.sort((a, b) => b.lastWriteMs - a.lastWriteMs);
  return { steps, skipped };
}

/** One field's value as the platform-side state the audit log recorded it from. */
function stateOf(field: SyncedField, json: string): EntityState {
  return entityState({ [field]: JSON.parse(json) as unknown } as Partial<Omit<EntityState, 'known'>>);
}

export interface RollbackOpts {
  config?: string;
  since?: string;
  flow?: string;
  item?: string;
  dryRun?: boolean;
  json?: boolean;
  by?: string;
}

/** What became of one step: commanded (or would be, in a dry run), or left as it is and why. */
export interface RollbackLine {
  target: string;
  field: string;
  from: unknown;
  to: unknown;
  result: 'commanded' | 'would_command' | 'left';
  reason: string | null;
  commandIds: string[];
}

class DryRun extends Error {
  readonly outcome: RollbackOutcome;
  constructor(outcome: RollbackOutcome) {
    super('dry run');
    this.outcome = outcome;
  }
}

export function register(program: Command): void {
  program
    .command('rollback')
    .description(
      "put back what the platforms held before Lockstep's own writes since a time, newest first (a person's later edit is left alone)",
    )
    .option('-c, --config <file>', 'lockstep.yaml')
    .requiredOption('--since <when>', 'undo writes since a duration ago (30m, 2h, 7d) or a date/time')
    .option('--flow <id>', "only this flow's writes")
    .option('--item <platform:key>', 'only writes to this item: <platform>:<key> or <platform>:<id>')
    .option('--dry-run', 'decide and show what would be written, and write nothing')
    .option('--json', 'one JSON object per field, then a summary object')
    .option('--by <name>', 'who asks, for the audit log (default: $USER)')
    .action(async (opts: RollbackOpts) => {
      const sinceMs = parseSince(opts.since ?? '', Date.now());
      const item = opts.item !== undefined ? parseItem(opts.item) : undefined;
      const config = loadAppConfig(opts.config);
      if (opts.flow !== undefined && !config.flows.some((f) => f.id === opts.flow))
        throw new Error(
          `--flow ${opts.flow}: no such flow (configured: ${config.flows.map((f) => f.id).join(', ') || 'none'})`,
        );
      const by = `rollback by ${opts.by ?? process.env['USER'] ?? 'cli'}`;
      const pool = createPool(config.postgres.url, { max: 2, applicationName: 'lockstep-cli' });
      const store = createReconcilerStore(pool);
      const deps = {
        flows: config.flows,
        topics: config.kafka.topics,
        ids: deterministicId,
        now: Date.now,
        canonicalLabel: canonicalLabelOn,
        people: peopleDirectory(config),
      };
      try {
        const records = (await queryAudit(pool, { sinceMs, limit: 1_000_000 })).filter(
          (r) =>
            (opts.flow === undefined || r.flowId === opts.flow) &&
            (item === undefined ||
              (r.platform === item.platform && (r.targetKey === item.ref || r.targetId === item.ref))),
        );
        const plan = planRollback(records);
        const lines: RollbackLine[] = [];
        for (const [i, step] of plan.steps.entries()) {
          if (!opts.json && plan.steps.length > 20)
            process.stderr.write(`\rrollback: ${i + 1}/${plan.steps.length} fields`);
          const req = {
            linkId: step.linkId,
            platform: step.platform,
            field: step.field,
            before: stateOf(step.field, step.beforeJson),
            after: stateOf(step.field, step.afterJson),
            ref: step.ref,
            by,
          };
          let out: RollbackOutcome;
          if (opts.dryRun) {
            out = await store
              .transaction(async (tx) => {
                throw new DryRun(await processRollback(tx, deps, req));
              })
              .catch((err: unknown) => {
                if (err instanceof DryRun) return err.outcome;
                throw err;
              });
          } else {
            out = await store.transaction((tx) => processRollback(tx, deps, req));
          }
          lines.push({
            target: step.target,
            field: step.field,
            from: JSON.parse(step.afterJson) as unknown,
            to: JSON.parse(step.beforeJson) as unknown,
            result: out.ok ? (opts.dryRun ? 'would_command' : 'commanded') : 'left',
            reason: out.ok ? null : `${out.reason}: ${out.error}`,
            commandIds: out.ok ? out.processed.commands.map((c) => c.commandId) : [],
          });
        }
        if (!opts.json && plan.steps.length > 20) process.stderr.write('\n');
        const summary = {
          since: new Date(sinceMs).toISOString(),
          dryRun: opts.dryRun === true,
          fields: lines.length,
          commanded: lines.filter((l) => l.result !== 'left').length,
          left: lines.filter((l) => l.result === 'left').length,
          notUndone: plan.skipped.length,
        };
        if (opts.json) {
          for (const l of lines) console.log(JSON.stringify({ kind: 'field', ...l }));
          for (const s of plan.skipped) console.log(JSON.stringify({ kind: 'not_undone', ...s }));
          console.log(JSON.stringify({ kind: 'summary', ...summary }));
          return;
        }
        if (lines.length === 0 && plan.skipped.length === 0) {
          console.log(`no writes by Lockstep since ${summary.since} for this filter`);
          return;
        }
        for (const l of lines) {
          const what = `${l.target} ${l.field}: ${JSON.stringify(l.from)} → ${JSON.stringify(l.to)}`;
          if (l.result === 'left') console.log(`left       ${what} (${l.reason})`);
          else console.log(`${opts.dryRun ? 'would put' : 'putting'} ${what}`);
        }
        for (const s of plan.skipped) console.log(`not undone ${s.target} ${s.action} ${s.field}: ${s.why}`);
        console.log(
          `${summary.commanded} field(s) ${opts.dryRun ? 'would be put back (dry run: nothing written)' : 'put back: the running reconciler publishes the writes; `lockstep audit` shows them'}, ${summary.left} left as they are, ${summary.notUndone} write(s) not undoable`,
        );
      } finally {
        await pool.end();
      }
    });
}
