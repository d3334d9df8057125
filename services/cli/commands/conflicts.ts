/**
 * `lockstep conflicts list | resolve`: the conflicts the reconciler holds for a person to settle.
 * Resolving records the choice and its write commands in the reconciler's outbox (one
 * transaction); the running reconciler publishes them.
 */
import type { Command } from 'commander';
import { loadAppConfig, peopleDirectory, type AppConfig } from '../../app/config.ts';
import { createPool } from '../../core/db/index.ts';
import type { SyncedField } from '../../reconciler/flow.ts';
import { SYNCED_FIELDS } from '../../reconciler/flow.ts';
import { deterministicId } from '../../reconciler/ids.ts';
import { processResolve } from '../../reconciler/process.ts';
import { createReconcilerStore, type ReconcilerStore } from '../../reconciler/store.ts';
import { parseFieldValue } from '../../reconciler/values.ts';

function open(configFile: string | undefined) {
  const config = loadAppConfig(configFile);
  const pool = createPool(config.postgres.url, { max: 2, applicationName: 'lockstep-cli' });
  return { config, pool, store: createReconcilerStore(pool) };
}

function isField(f: string): f is SyncedField {
  return (SYNCED_FIELDS as readonly string[]).includes(f);
}

/** How a person settles a conflict: take one platform's value, or give the value as JSON. */
export type Resolution = { take: string } | { valueJson: string };

export type ResolveResult =
  { ok: true; field: string; value: unknown; targets: string[] } | { ok: false; error: string };

/**
 * Settles an open conflict: records the choice and its write commands in the reconciler's outbox
 * in one transaction (the running reconciler publishes them). Shared by `conflicts resolve` and
 * the status page (`lockstep admin`).
 */
export async function resolveConflict(
  config: AppConfig,
  store: ReconcilerStore,
  conflictId: string,
  how: Resolution,
  by: string,
): Promise<ResolveResult> {
  const fail = (why: string): ResolveResult => ({
    ok: false,
    error: `resolving conflict ${conflictId}: ${why}`,
  });
  const [row] = await store.conflicts({ conflictId });
  if (!row) return fail('no such conflict');
  if (row.status !== 'open') return fail(`already ${row.status}`);
  if (!isField(row.field)) return fail(`unknown field ${row.field}`);
  let raw: unknown;
  if ('take' in how) {
    const side = row.record.sides.find((s) => s.platform === how.take);
    if (!side)
      return fail(`no side on ${how.take} (sides: ${row.record.sides.map((s) => s.platform).join(', ')})`);
    raw = JSON.parse(side.valueJson);
  } else {
    try {
      raw = JSON.parse(how.valueJson);
    } catch (err) {
      return fail(`the value is not JSON: ${(err as Error).message}`);
    }
  }
  const value = parseFieldValue(row.field, raw);
  if (!value.ok) return fail(value.error);
  const deps = {
    flows: config.flows,
    topics: config.kafka.topics,
    ids: deterministicId,
    now: Date.now,
    people: peopleDirectory(config),
  };
  const r = await store.transaction((tx) =>
    processResolve(tx, deps, row.linkId, conflictId, value.value, by),
  );
  if (!r.ok) return { ok: false, error: r.error };
  return {
    ok: true,
    field: row.field,
    value: value.value,
    targets: r.processed.commands.map((c) => c.platform),
  };
}

export function register(program: Command): void {
  const conflicts = program.command('conflicts').description('field conflicts held for a person to resolve');

  conflicts
    .command('list')
    .description('open conflicts (newest first), with both sides’ values and platform times')
    .option('-c, --config <file>', 'lockstep.yaml')
    .option('--all', 'include resolved conflicts')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { config?: string; all?: boolean; json?: boolean }) => {
      const { pool, store } = open(opts.config);
      try {
        const rows = await store.conflicts(opts.all ? {} : { status: 'open' });
        for (const row of rows) {
          if (opts.json) {
            console.log(JSON.stringify(row.record));
            continue;
          }
          const c = row.record;
          console.log(
            `${c.conflictId}  ${c.status}  flow=${c.flowId} link=${c.linkId} field=${c.field} policy=${c.policy}`,
          );
          console.log(`  base: ${c.baseJson ?? 'null'}`);
          for (const s of c.sides) {
            console.log(
              `  ${s.platform} ${s.entityId}: ${s.valueJson}  at ${new Date(s.tsMs).toISOString()}`,
            );
          }
          if (c.resolutionJson !== null)
            console.log(`  resolved to ${c.resolutionJson} by ${c.resolvedBy ?? '?'}`);
        }
        if (!opts.json && rows.length === 0) console.log(opts.all ? 'no conflicts' : 'no open conflicts');
      } finally {
        await pool.end();
      }
    });

  conflicts
    .command('resolve <conflictId>')
    .description('settle a conflict with a value (JSON, flow-level) or by taking one platform’s value')
    .option('-c, --config <file>', 'lockstep.yaml')
    .option(
      '--value <json>',
      'the value to keep, as JSON (e.g. "\\"New title\\"", ["bug","ui"], "ada@example.com")',
    )
    .option('--take <platform>', "keep that platform's value")
    .option('--by <who>', 'recorded as resolvedBy', 'cli')
    .option('--json', 'print {conflictId, field, value, targets}')
    .action(
      async (
        conflictId: string,
        opts: { config?: string; value?: string; take?: string; by: string; json?: boolean },
      ) => {
        if ((opts.value === undefined) === (opts.take === undefined)) {
          program.error('resolving conflict: give exactly one of --value <json> or --take <platform>');
        }
        const { config, pool, store } = open(opts.config);
        try {
          const r = await resolveConflict(
            config,
            store,
            conflictId,
            opts.take !== undefined ? { take: opts.take } : { valueJson: opts.value! },
            opts.by,
          );
          if (!r.ok) program.error(r.error);
          if (opts.json) {
            console.log(JSON.stringify({ conflictId, field: r.field, value: r.value, targets: r.targets }));
            return;
          }
          const targets = r.targets.join(', ') || 'no side (all hold it already)';
          console.log(
            `resolved ${conflictId}: ${r.field} = ${JSON.stringify(r.value)}; writing to ${targets}`,
          );
        } finally {
          await pool.end();
        }
      },
    );
}
