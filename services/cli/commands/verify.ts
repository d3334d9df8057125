/**
 * `lockstep verify [--flow <id>] [--repair] [--json]`: reads every linked record on every side
 * through its connector's reader and compares each field with the link's base. The comparison and
 * the repair events are in services/ops/verify.ts, the run itself (links from Postgres, reads under
 * the platforms' request budgets, the scope scan, the repair's publish) in services/ops/verify-run.ts,
 * shared with the reconciler's scheduled audit; this file is the command: its options, progress,
 * output, and the run's record for `lockstep report` (services/ops/verify-runs.ts).
 *
 * Exit codes: 0 everything in step; 2 drift, a record that no longer exists or an unlinked item was
 * found (with or without --repair); 1 the run could not complete (a bad argument, an unknown flow,
 * a read that failed).
 */
import type { Command } from 'commander';
import { loadAppConfig, type AppConfig } from '../../app/config.ts';
import { createPool } from '../../core/db/index.ts';
import { exitCode, renderText, type VerifyReport } from '../../ops/verify.ts';
import { newRunId, verifyLinks } from '../../ops/verify-run.ts';
import { recordVerifyRun, resultOf, summarize } from '../../ops/verify-runs.ts';
import type { Flow } from '../../reconciler/flow.ts';

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

/**
 * Progress on stderr: a line at most every 2 s (and at the end), for people watching a long run:
 * on a terminal, or for 20 links or more.
 */
function progress() {
  const start = Date.now();
  let last = 0;
  let total = 0;
  let done = 0;
  const watched = () => process.stderr.isTTY || total >= 20;
  const line = () => {
    const s = (Date.now() - start) / 1000;
    const rate = s > 0 ? done / s : 0;
    const eta = rate > 0 ? Math.round((total - done) / rate) : null;
    process.stderr.write(
      `verify: ${done}/${total} links read (${rate.toFixed(1)}/s${eta !== null && done < total ? `, ~${eta} s left` : ''})\n`,
    );
  };
  return {
    tick(d: number, t: number) {
      done = d;
      total = t;
      if (!watched()) return;
      if (Date.now() - last >= 2000) {
        last = Date.now();
        line();
      }
    },
    end() {
      if (watched() && total > 0) line();
    },
  };
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

export async function runVerify(opts: VerifyOpts): Promise<VerifyReport> {
  const config = loadAppConfig(opts.config);
  const flows = pickFlows(config, opts.flow);
  const started = Date.now();
  const runId = newRunId(started);
  const bar = progress();
  const pool = createPool(config.postgres.url, { max: 1, applicationName: 'lockstep-cli-verify' });
  try {
    const report = await verifyLinks(config, {
      flows,
      repair: opts.repair === true,
      unlinked: opts.unlinked,
      share: opts.share,
      concurrency: opts.concurrency,
      pool,
      runId,
      onLinkDone: (done, total) => bar.tick(done, total),
    });
    bar.end();
    // The run's result for `lockstep report` (drift from the last verify). A failure to record it
    // does not change what this run found: said on stderr, and the exit code stays the report's.
    await recordVerifyRun(pool, {
      runId,
      origin: 'cli',
      flows: report.flows,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date().toISOString(),
      result: resultOf(report),
      repair: opts.repair === true,
      summary: summarize(report),
      error: null,
    }).catch((err: unknown) =>
      process.stderr.write(`verify: recording this run for lockstep report failed: ${message(err)}\n`),
    );
    return report;
  } finally {
    await pool.end();
  }
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
