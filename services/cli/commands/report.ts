/**
 * `lockstep report [--json]`: each platform's health, each flow's configuration, the sync
 * statistics, the issues they show and what to do about them. The gathering is here (credential
 * checks through the connector registry, every pipeline service's /metrics, open conflicts and the
 * last verify run from Postgres, dead letters from the dead-letter topic); the numbers → issues → recommendations logic
 * is pure, in services/ops/report.ts. Exit 1 when an issue of severity error is found.
 */
import type { Command } from 'commander';
import { readFlowStarts, type FlowStart } from '../../reconciler/flow-starts.ts';
import { boundConnectors, loadAppConfig, rateLimitFor, type AppConfig } from '../../app/config.ts';
import { pipelineServices } from '../../app/launcher.ts';
import { createPool, type Pool } from '../../core/db/index.ts';
import { policyName } from '../../reconciler/flow.ts';
import { createReconcilerStore } from '../../reconciler/store.ts';
import { lastVerifyRun } from '../../ops/verify-runs.ts';
import { noteCounts } from '../../egress/notes.ts';
import {
  buildReport,
  parsePrometheusText,
  renderText,
  type CredentialCheck,
  type FlowInfo,
  type ReportInputs,
  type Scrape,
} from '../../ops/report.ts';
import { listDeadLetters } from './dlq.ts';

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

const CHECK_TIMEOUT_MS = 10_000;
const SCRAPE_TIMEOUT_MS = 5_000;

function withTimeout<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The connector's own "who am I" call with the configured credentials, classified by its error table. */
async function checkCredentials(config: AppConfig): Promise<CredentialCheck[]> {
  return Promise.all(
    [...boundConnectors(config)].map(async ([platform, connector]): Promise<CredentialCheck> => {
      try {
        const bot = await withTimeout(
          `asking ${platform} who Lockstep is`,
          connector.resolveBotUserId(),
          CHECK_TIMEOUT_MS,
        );
        return { platform, reachable: true, credentialsValid: true, detail: `authenticated as ${bot}` };
      } catch (err) {
        const category = connector.classifyError(err).category;
        if (category === 'auth')
          return { platform, reachable: true, credentialsValid: false, detail: message(err) };
        if (category === 'network' || /no answer within/.test(message(err)))
          return { platform, reachable: false, credentialsValid: null, detail: message(err) };
        return {
          platform,
          reachable: true,
          credentialsValid: null,
          detail: `the check failed (${category}): ${message(err)}`,
        };
      }
    }),
  );
}

async function scrapeAll(config: AppConfig): Promise<Scrape[]> {
  return Promise.all(
    pipelineServices(config).map(async (s): Promise<Scrape> => {
      const url = `http://${config.http.host}:${s.port}/metrics`;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
        if (!res.ok) return { service: s.name, url, samples: null, error: `HTTP ${res.status}` };
        return { service: s.name, url, samples: parsePrometheusText(await res.text()) };
      } catch (err) {
        return { service: s.name, url, samples: null, error: `${url}: ${message(err)}` };
      }
    }),
  );
}

async function openConflicts(pool: Pool, config: AppConfig): Promise<ReportInputs['openConflicts']> {
  try {
    const rows = await createReconcilerStore(pool).conflicts({ status: 'open' });
    const byFlow: Record<string, number> = Object.fromEntries(config.flows.map((f) => [f.id, 0]));
    let oldest: number | null = null;
    for (const r of rows) {
      byFlow[r.record.flowId] = (byFlow[r.record.flowId] ?? 0) + 1;
      oldest = oldest === null ? r.record.tsMs : Math.min(oldest, r.record.tsMs);
    }
    return { byFlow, oldestAgeMs: oldest === null ? null : Date.now() - oldest };
  } catch (err) {
    return { error: `reading open conflicts: ${message(err)}` };
  }
}

async function flowStarts(
  pool: Pool,
  config: AppConfig,
): Promise<Map<string, FlowStart> | { error: string }> {
  try {
    return await readFlowStarts(
      pool,
      config.flows.map((f) => f.id),
    );
  } catch (err) {
    return { error: `reading reconciler_flows: ${message(err)}` };
  }
}

async function notes(pool: Pool): Promise<ReportInputs['notes']> {
  try {
    return { byPlatform: await noteCounts(pool) };
  } catch (err) {
    return { error: `reading item_notes: ${message(err)}` };
  }
}

async function lastVerify(pool: Pool): Promise<ReportInputs['lastVerify']> {
  try {
    return { run: await lastVerifyRun(pool) };
  } catch (err) {
    return { error: `reading the last verify run: ${message(err)}` };
  }
}

function flowsOf(config: AppConfig): FlowInfo[] {
  return config.flows.map((f) => ({
    id: f.id,
    sides: f.sides.map((s) => ({ platform: s.platform, workspace: s.workspace })),
    direction: f.direction,
    policies: Object.fromEntries(
      Object.entries(f.fields).flatMap(([k, v]) => (v === undefined ? [] : [[k, policyName(v)]])),
    ),
    statusMapEntries: f.statusMap.length,
    onDelete: f.onDelete,
  }));
}

export async function gatherReportInputs(configFile: string | undefined): Promise<ReportInputs> {
  const config = loadAppConfig(configFile);
  const platforms = [...boundConnectors(config).keys()];
  // One pool for every Postgres read; each read reports its own failure (the report says what it
  // could not read instead of failing).
  const pool = createPool(config.postgres.url, { max: 2, applicationName: 'lockstep-cli-report' });
  let reads;
  try {
    reads = await Promise.all([
      checkCredentials(config),
      scrapeAll(config),
      openConflicts(pool, config),
      withTimeout('reading the dead-letter topic', listDeadLetters(configFile, config), 60_000).catch(
        (err: unknown) => ({ error: message(err) }),
      ),
      lastVerify(pool),
      notes(pool),
      flowStarts(pool, config),
    ]);
  } finally {
    await pool.end();
  }
  const [credentials, scrapes, conflicts, deadLetters, verify, noted, starts] = reads;
  const flows = flowsOf(config);
  if (!('error' in starts))
    for (const f of flows) {
      const s = starts.get(f.id);
      f.startedAt = s ? new Date(s.startedAtMs).toISOString() : null;
      f.backfilledAt = s?.backfilledAtMs != null ? new Date(s.backfilledAtMs).toISOString() : null;
    }
  return {
    nowMs: Date.now(),
    platforms,
    flows,
    ...('error' in starts && { flowStartsError: starts.error }),
    rateLimits: Object.fromEntries(platforms.map((p) => [p, rateLimitFor(config, p)])),
    credentials,
    scrapes,
    openConflicts: conflicts,
    deadLetters,
    lastVerify: verify,
    verifyEveryMs: config.reconciler.verifyEvery ?? null,
    notes: noted,
  };
}

export function register(program: Command): void {
  program
    .command('report')
    .description(
      'status report: platform health, flows, sync statistics, issues and recommendations (exit 1 on an error-level issue)',
    )
    .option('-c, --config <file>', 'lockstep.yaml')
    .option('--json', 'print the report as JSON (keys platforms, flows, stats, issues, recommendations, …)')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const report = buildReport(await gatherReportInputs(opts.config));
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderText(report));
      if (report.issues.some((i) => i.severity === 'error')) process.exitCode = 1;
    });
}
