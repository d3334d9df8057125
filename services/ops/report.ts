/**
 * `lockstep report`: numbers → issues → recommendations. Everything here is pure: the CLI
 * (services/cli/commands/report.ts) gathers the inputs (credential checks through the connector
 * registry, each service's /metrics, open conflicts from Postgres, dead letters from the
 * dead-letter topic) and this module turns them into the report. No platform is named here: the
 * platforms are whatever the inputs carry.
 *
 * Counters on /metrics count since their process started, and the report reads them once, so
 * every rate and count says "since <service> started (N min ago)", never "in the last hour".
 */

import type { NoteCounts } from '../egress/notes.ts';
import { formatDuration } from '../core/config/duration.ts';
import type { VerifyRun } from './verify-runs.ts';

// ---------------------------------------------------------------- Prometheus text, parsed

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * The sample lines of a Prometheus text exposition (format 0.0.4, what prom-client serves).
 * Comments, HELP and TYPE lines are skipped; label values are unescaped (\\, \", \n). Written
 * here because none of the project's dependencies parses the format and the grammar is a few lines.
 */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    let name: string;
    const labels: Record<string, string> = {};
    let rest: string;
    if (brace !== -1 && (space === -1 || brace < space)) {
      name = line.slice(0, brace);
      let i = brace + 1;
      while (i < line.length && line[i] !== '}') {
        const eq = line.indexOf('=', i);
        const key = line.slice(i, eq).trim();
        let j = eq + 2; // past ="
        let value = '';
        while (j < line.length && line[j] !== '"') {
          if (line[j] === '\\' && j + 1 < line.length) {
            const next = line[j + 1];
            value += next === 'n' ? '\n' : next;
            j += 2;
          } else value += line[j++];
        }
        labels[key] = value;
        i = j + 1;
        if (line[i] === ',') i++;
      }
      rest = line.slice(i + 1).trim();
    } else {
      name = line.slice(0, space);
      rest = line.slice(space + 1).trim();
    }
    const value = Number(rest.split(/\s+/)[0]);
    if (name && !Number.isNaN(value)) out.push({ name, labels, value });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sum(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples)
    if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  return total;
}

function first(samples: Sample[], name: string, match: Record<string, string> = {}): number | null {
  const s = samples.find(
    (x) => x.name === name && Object.entries(match).every(([k, v]) => x.labels[k] === v),
  );
  return s ? s.value : null;
}

/**
 * The q-quantile of a Prometheus histogram from its cumulative buckets, interpolated linearly
 * inside the bucket, as PromQL's histogram_quantile does. An estimate: its precision is the
 * bucket layout. Null when the histogram has no observations.
 */
export function histogramQuantile(q: number, buckets: { le: number; count: number }[]): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe; // beyond the last finite bucket: its upper bound
      const inBucket = b.count - prevCount;
      return inBucket === 0 ? b.le : prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

function bucketsOf(samples: Sample[], name: string, match: Record<string, string>) {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe].map(([le, count]) => ({ le, count }));
}

// ---------------------------------------------------------------- inputs

/** One service's /metrics, read once. */
export interface Scrape {
  service: string;
  url: string;
  /** The samples, or null when the service did not answer (`error` says why). */
  samples: Sample[] | null;
  error?: string;
}

/** A platform's credential check: the connector's own "who am I" call with the configured token. */
export interface CredentialCheck {
  platform: string;
  /** false: no answer (network); null: not checked. */
  reachable: boolean | null;
  /** false: the platform answered and refused the credentials; null: unknown (unreachable). */
  credentialsValid: boolean | null;
  detail: string;
}

export interface FlowInfo {
  id: string;
  sides: { platform: string; workspace: string }[];
  direction: string;
  /** Field → policy name (`default` included). */
  policies: Record<string, string>;
  statusMapEntries: number;
  onDelete: string;
  /**
   * When the flow began (the reconciler's first start with it, or its first backfill) and when a
   * backfill of it last completed (ISO 8601); null when it has not, or `flowStartsError` says why
   * they could not be read. Undefined: not read.
   */
  startedAt?: string | null;
  backfilledAt?: string | null;
}

export interface DeadLetterInfo {
  stage: string;
  category: string;
  state: string;
}

export interface ReportInputs {
  nowMs: number;
  /** The configured platforms (bound connectors), in registry order. */
  platforms: string[];
  flows: FlowInfo[];
  /** The egress request budget each platform's egress was given (`egress.rateLimits` or the default). */
  rateLimits: Record<string, { limit: number; perMs: number }>;
  credentials: CredentialCheck[];
  /** ingest, reconciler, egress-<platform>. */
  scrapes: Scrape[];
  /** Open conflicts per flow, or the error that kept them from being read. */
  openConflicts: { byFlow: Record<string, number>; oldestAgeMs: number | null } | { error: string };
  /** Retained dead letters (every state), or the error that kept them from being read. */
  deadLetters: DeadLetterInfo[] | { error: string };
  /** Why the flows' start and backfill times could not be read (they are then left out). */
  flowStartsError?: string;
  /**
   * The last verify run (`lockstep verify` or the reconciler's schedule), null when none is
   * recorded, or the error that kept it from being read.
   */
  lastVerify: { run: VerifyRun | null } | { error: string };
  /** `reconciler.verifyEvery` in milliseconds, null when the schedule is off. */
  verifyEveryMs: number | null;
  /** The visible notes (`item_notes`) per platform, or the error that kept them from being read. */
  notes: { byPlatform: Record<string, NoteCounts> } | { error: string };
}

// ---------------------------------------------------------------- the report

export interface PlatformReport {
  platform: string;
  reachable: boolean | null;
  credentialsValid: boolean | null;
  credentialDetail: string;
  egress: { service: string; up: boolean; error?: string };
  /** null: egress not scraped. */
  breakerOpen: boolean | null;
  rateLimit: {
    configured: { limit: number; perMs: number };
    /** Share of egress's budget left now (0..1); null when egress did not answer. */
    headroomRatio: number | null;
    /** How long egress's next request would wait (a Retry-After or an empty budget). */
    waitSeconds: number | null;
  };
}

export interface PlatformStats {
  /** Apply attempts by result (ok or an error category), since egress started. */
  apiCalls: Record<string, number>;
  /** Commands applied (writes made). */
  writes: number;
  /** Commands by result (applied, already_applied, skipped_stale, dead_lettered, target_gone). */
  commands: Record<string, number>;
  /** End-to-end latency of the writes to this platform (histogram estimate). */
  latency: { count: number; p50Seconds: number | null; p99Seconds: number | null };
  /** Fields left as they were for want of a counterpart, by field. Null when egress did not answer. */
  unresolvedFields: Record<string, number> | null;
  /** Commands waiting in Kafka for this platform's egress. */
  backlog: number | null;
  /** When egress-<platform> started (its process start), null when it did not answer. */
  since: string | null;
  sinceMinutes: number | null;
}

export interface Stats {
  changes: {
    total: number | null;
    perMinute: number | null;
    byPlatform: Record<string, number>;
    since: string | null;
    sinceMinutes: number | null;
  };
  /** Changes and outcomes the reconciler has not committed yet. */
  reconcilerBacklog: number | null;
  platforms: Record<string, PlatformStats>;
  services: { service: string; up: boolean; since: string | null; error?: string }[];
  /** The last verify run as recorded, null when none is; `schedule` is reconciler.verifyEvery. */
  verify: { last: VerifyRun | null; schedule: string | null; error?: string };
  /** Visible notes per platform (every one recorded, not only recent); null when unreadable. */
  notes: Record<string, NoteCounts> | null;
}

export type IssueCode =
  | 'service_down'
  | 'unreachable'
  | 'auth_failed'
  | 'auth_errors'
  | 'breaker_open'
  | 'rate_limited'
  | 'conflicts_open'
  | 'dead_letters'
  | 'validation_failures'
  | 'unresolved_fields'
  | 'backlog'
  | 'not_backfilled'
  | 'verify_drift'
  | 'verify_incomplete'
  | 'verify_never'
  | 'notes_failed'
  | 'not_counted';

export interface Issue {
  code: IssueCode;
  severity: 'error' | 'warning' | 'info';
  platform?: string;
  service?: string;
  flow?: string;
  count?: number;
  /** E.g. dead letters by category, unresolved fields by field. */
  breakdown?: Record<string, number>;
  /** For the verify issues: which run, when it ran, whether it repaired. */
  verify?: { runId: string; origin: string; ranAt: string; flows: string[]; repaired: boolean };
  message: string;
}

export interface Recommendation {
  code: IssueCode;
  text: string;
  /** A command that helps, when there is one. */
  command?: string;
}

export interface Report {
  generatedAt: string;
  platforms: PlatformReport[];
  flows: FlowInfo[];
  stats: Stats;
  issues: Issue[];
  recommendations: Recommendation[];
  nextSteps: string[];
  /** What the report cannot tell yet, said plainly. */
  notes: string[];
}

const egressService = (platform: string) => `egress-${platform}`;

function scrapeOf(inputs: ReportInputs, service: string): Scrape | undefined {
  return inputs.scrapes.find((s) => s.service === service);
}

function startOf(s: Scrape | undefined): number | null {
  if (!s?.samples) return null;
  const t = first(s.samples, 'process_start_time_seconds');
  return t === null ? null : t * 1000;
}

const minutesSince = (nowMs: number, t: number | null) =>
  t === null ? null : Math.max(0, Math.round(((nowMs - t) / 60_000) * 10) / 10);

function byLabel(samples: Sample[], name: string, label: string, match: Record<string, string>) {
  const out: Record<string, number> = {};
  for (const s of samples)
    if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) {
      const key = s.labels[label] ?? '';
      out[key] = (out[key] ?? 0) + s.value;
    }
  return out;
}

export function platformReports(inputs: ReportInputs): PlatformReport[] {
  return inputs.platforms.map((platform) => {
    const cred = inputs.credentials.find((c) => c.platform === platform);
    const service = egressService(platform);
    const s = scrapeOf(inputs, service);
    const samples = s?.samples ?? null;
    return {
      platform,
      reachable: cred?.reachable ?? null,
      credentialsValid: cred?.credentialsValid ?? null,
      credentialDetail: cred?.detail ?? 'not checked',
      egress: {
        service,
        up: samples !== null,
        ...(samples === null && { error: s?.error ?? 'not scraped' }),
      },
      breakerOpen: samples ? (first(samples, 'lockstep_egress_breaker_open', { platform }) ?? 0) > 0 : null,
      rateLimit: {
        configured: inputs.rateLimits[platform] ?? { limit: 0, perMs: 0 },
        headroomRatio: samples
          ? first(samples, 'lockstep_egress_rate_budget_headroom_ratio', { platform })
          : null,
        waitSeconds: samples
          ? first(samples, 'lockstep_egress_rate_budget_wait_seconds', { platform })
          : null,
      },
    };
  });
}

export function computeStats(inputs: ReportInputs): Stats {
  const ingest = scrapeOf(inputs, 'ingest');
  const ingestStart = startOf(ingest);
  const ingestMinutes = minutesSince(inputs.nowMs, ingestStart);
  const changesTotal = ingest?.samples ? sum(ingest.samples, 'lockstep_ingest_events_total') : null;
  const reconciler = scrapeOf(inputs, 'reconciler');
  const platforms: Record<string, PlatformStats> = {};
  for (const platform of inputs.platforms) {
    const s = scrapeOf(inputs, egressService(platform));
    const samples = s?.samples ?? null;
    const start = startOf(s);
    const buckets = samples ? bucketsOf(samples, 'lockstep_sync_latency_seconds', { platform }) : [];
    platforms[platform] = {
      apiCalls: samples ? byLabel(samples, 'lockstep_egress_api_calls_total', 'result', { platform }) : {},
      writes: samples ? sum(samples, 'lockstep_egress_commands_total', { platform, result: 'applied' }) : 0,
      commands: samples ? byLabel(samples, 'lockstep_egress_commands_total', 'result', { platform }) : {},
      latency: {
        count: samples ? sum(samples, 'lockstep_sync_latency_seconds_count', { platform }) : 0,
        p50Seconds: histogramQuantile(0.5, buckets),
        p99Seconds: histogramQuantile(0.99, buckets),
      },
      unresolvedFields: samples
        ? byLabel(samples, 'lockstep_egress_unresolved_fields_total', 'field', { platform })
        : null,
      backlog: samples ? sum(samples, 'lockstep_consumer_lag') : null,
      since: start === null ? null : new Date(start).toISOString(),
      sinceMinutes: minutesSince(inputs.nowMs, start),
    };
  }
  return {
    changes: {
      total: changesTotal,
      perMinute:
        changesTotal === null || ingestMinutes === null || ingestMinutes === 0
          ? null
          : Math.round((changesTotal / ingestMinutes) * 100) / 100,
      byPlatform: ingest?.samples
        ? byLabel(ingest.samples, 'lockstep_ingest_events_total', 'platform', {})
        : {},
      since: ingestStart === null ? null : new Date(ingestStart).toISOString(),
      sinceMinutes: ingestMinutes,
    },
    reconcilerBacklog: reconciler?.samples ? sum(reconciler.samples, 'lockstep_consumer_lag') : null,
    platforms,
    verify: {
      last: 'run' in inputs.lastVerify ? inputs.lastVerify.run : null,
      schedule: inputs.verifyEveryMs === null ? null : formatDuration(inputs.verifyEveryMs),
      ...('error' in inputs.lastVerify && { error: inputs.lastVerify.error }),
    },
    notes: 'error' in inputs.notes ? null : inputs.notes.byPlatform,
    services: inputs.scrapes.map((s) => {
      const start = startOf(s);
      return {
        service: s.service,
        up: s.samples !== null,
        since: start === null ? null : new Date(start).toISOString(),
        ...(s.samples === null && { error: s.error ?? 'no answer' }),
      };
    }),
  };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const verb = (n: number, one: string, many: string) => (n === 1 ? one : many);
const sinceText = (service: string, minutes: number | null) =>
  minutes === null ? `since ${service} started` : `since ${service} started (${minutes} min ago)`;

/** Backlogs below this are ordinary traffic in flight, not an issue. */
export const BACKLOG_WARNING = 100;

/** The problems the numbers show, most severe first. */
export function identifyIssues(inputs: ReportInputs, platforms: PlatformReport[], stats: Stats): Issue[] {
  const issues: Issue[] = [];
  for (const s of stats.services)
    if (!s.up)
      issues.push({
        code: 'service_down',
        severity: 'error',
        service: s.service,
        message: `${s.service} does not answer on /metrics (${s.error ?? 'no answer'}): its numbers are missing from this report`,
      });
  for (const p of platforms) {
    if (p.reachable === false)
      issues.push({
        code: 'unreachable',
        severity: 'error',
        platform: p.platform,
        message: `${p.platform} is not reachable: ${p.credentialDetail}`,
      });
    else if (p.credentialsValid === false)
      issues.push({
        code: 'auth_failed',
        severity: 'error',
        platform: p.platform,
        message: `${p.platform} refuses the configured credentials: ${p.credentialDetail}`,
      });
    if (p.breakerOpen)
      issues.push({
        code: 'breaker_open',
        severity: 'error',
        platform: p.platform,
        message: `${p.egress.service}'s circuit breaker is open: writes to ${p.platform} wait in Kafka`,
      });
  }
  for (const platform of inputs.platforms) {
    const ps = stats.platforms[platform]!;
    const service = egressService(platform);
    const when = sinceText(service, ps.sinceMinutes);
    const auth = ps.apiCalls['auth'] ?? 0;
    if (auth > 0)
      issues.push({
        code: 'auth_errors',
        severity: 'error',
        platform,
        count: auth,
        message: `${platform} refused ${plural(auth, 'write attempt')} as unauthorized ${when}`,
      });
    const limited = ps.apiCalls['rate_limit'] ?? 0;
    if (limited > 0)
      issues.push({
        code: 'rate_limited',
        severity: 'warning',
        platform,
        count: limited,
        message: `${platform} answered 429 (rate limited) ${plural(limited, 'time')} ${when}`,
      });
    const validation = ps.apiCalls['validation'] ?? 0;
    if (validation > 0)
      issues.push({
        code: 'validation_failures',
        severity: 'warning',
        platform,
        count: validation,
        message: `${platform} rejected ${plural(validation, 'write')} as invalid ${when}`,
      });
    const unresolved = ps.unresolvedFields;
    const unresolvedTotal = unresolved ? Object.values(unresolved).reduce((a, b) => a + b, 0) : 0;
    if (unresolved && unresolvedTotal > 0)
      issues.push({
        code: 'unresolved_fields',
        severity: 'warning',
        platform,
        count: unresolvedTotal,
        breakdown: Object.fromEntries(Object.entries(unresolved).filter(([, n]) => n > 0)),
        message: `${plural(unresolvedTotal, 'field')} could not be written to ${platform} for want of a counterpart there (${Object.entries(
          unresolved,
        )
          .filter(([, n]) => n > 0)
          .map(([f, n]) => `${f} ${n}`)
          .join(', ')}) ${when}`,
      });
    if (ps.backlog !== null && ps.backlog >= BACKLOG_WARNING)
      issues.push({
        code: 'backlog',
        severity: 'warning',
        platform,
        count: ps.backlog,
        message: `${plural(ps.backlog, 'command')} ${verb(ps.backlog, 'waits', 'wait')} in Kafka for ${service}`,
      });
  }
  if (stats.reconcilerBacklog !== null && stats.reconcilerBacklog >= BACKLOG_WARNING)
    issues.push({
      code: 'backlog',
      severity: 'warning',
      service: 'reconciler',
      count: stats.reconcilerBacklog,
      message: `${plural(stats.reconcilerBacklog, 'record')} ${verb(stats.reconcilerBacklog, 'waits', 'wait')} in Kafka for the reconciler`,
    });
  if ('error' in inputs.openConflicts)
    issues.push({
      code: 'not_counted',
      severity: 'warning',
      message: `open conflicts could not be read: ${inputs.openConflicts.error}`,
    });
  else {
    const byFlow = inputs.openConflicts.byFlow;
    const open = Object.values(byFlow).reduce((a, b) => a + b, 0);
    if (open > 0)
      issues.push({
        code: 'conflicts_open',
        severity: 'warning',
        count: open,
        breakdown: byFlow,
        message: `${plural(open, 'conflict')} ${verb(open, 'waits', 'wait')} for a person (${Object.entries(
          byFlow,
        )
          .map(([f, n]) => `flow ${f}: ${n}`)
          .join(', ')})`,
      });
  }
  if (inputs.flowStartsError !== undefined)
    issues.push({
      code: 'not_counted',
      severity: 'warning',
      message: `when each flow began could not be read: ${inputs.flowStartsError}`,
    });
  const reconciler = scrapeOf(inputs, 'reconciler');
  const awaiting = reconciler?.samples
    ? sum(reconciler.samples, 'lockstep_reconciler_notes_total', { code: 'awaits_backfill' })
    : 0;
  for (const f of inputs.flows) {
    if (f.startedAt === undefined || f.backfilledAt !== null) continue;
    issues.push({
      code: 'not_backfilled',
      flow: f.id,
      severity: awaiting > 0 ? 'warning' : 'info',
      ...(awaiting > 0 && { count: awaiting }),
      message: `flow ${f.id} ${f.startedAt === null ? 'has not begun' : `began ${f.startedAt}`} and has never been backfilled: items that existed before it began are not mirrored${
        awaiting > 0
          ? ` (the reconciler has left ${plural(awaiting, 'read')} of such items since it started${inputs.flows.length > 1 ? ', all flows together' : ''})`
          : ''
      }`,
    });
  }
  if ('error' in inputs.deadLetters)
    issues.push({
      code: 'not_counted',
      severity: 'warning',
      message: `dead letters could not be read: ${inputs.deadLetters.error}`,
    });
  else {
    const open = inputs.deadLetters.filter((d) => d.state === 'open');
    if (open.length > 0) {
      const counted: Record<string, number> = {};
      for (const d of open) counted[d.category] = (counted[d.category] ?? 0) + 1;
      // Most first, then by name: the topic's partition order says nothing.
      const byCategory = Object.fromEntries(
        Object.entries(counted).sort(([a, m], [b, n]) => n - m || a.localeCompare(b)),
      );
      issues.push({
        code: 'dead_letters',
        severity: 'error',
        count: open.length,
        breakdown: byCategory,
        message: `${plural(open.length, 'open dead letter')} (${Object.entries(byCategory)
          .map(([c, n]) => `${c} ${n}`)
          .join(', ')})`,
      });
    }
  }
  if ('error' in inputs.notes)
    issues.push({
      code: 'not_counted',
      severity: 'warning',
      message: `the notes on items could not be read: ${inputs.notes.error}`,
    });
  else
    for (const [platform, n] of Object.entries(inputs.notes.byPlatform))
      if (n.failed > 0)
        issues.push({
          code: 'notes_failed',
          severity: 'warning',
          platform,
          count: n.failed,
          message: `${plural(n.failed, 'note')} could not be posted on ${platform} items (the writes are done; the audit log has the fields)${n.lastError ? `; the latest failure: ${n.lastError}` : ''}`,
        });
  issues.push(...verifyIssues(inputs));
  const rank = { error: 0, warning: 1, info: 2 } as const;
  return issues.sort((a, b) => rank[a.severity] - rank[b.severity]);
}

const agoText = (nowMs: number, iso: string) => {
  const m = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 60_000));
  return m < 120
    ? `${m} min ago`
    : m < 48 * 60
      ? `${Math.round(m / 60)} h ago`
      : `${Math.round(m / 1440)} days ago`;
};

/** Drift from the last verify run, a run that could not read everything, or no run at all. */
function verifyIssues(inputs: ReportInputs): Issue[] {
  const input = inputs.lastVerify;
  const schedule = inputs.verifyEveryMs === null ? null : formatDuration(inputs.verifyEveryMs);
  if ('error' in input)
    return [
      {
        code: 'not_counted',
        severity: 'warning',
        message: `the last verify run could not be read: ${input.error}`,
      },
    ];
  const lv = input.run;
  if (lv === null)
    return [
      {
        code: 'verify_never',
        severity: 'info',
        message:
          'no verify has run: drift made behind Lockstep’s back (a lost webhook, an edit while egress was stopped, a deleted item) is not being looked for' +
          (schedule
            ? ` (reconciler.verifyEvery is ${schedule}: the reconciler’s first run comes within a minute of its start)`
            : ''),
      },
    ];
  const out: Issue[] = [];
  const ran = `the last verify (${lv.origin === 'schedule' ? 'scheduled' : 'lockstep verify'}, ${agoText(inputs.nowMs, lv.finishedAt)}, flow ${lv.flows.join(', ')})`;
  const verify = {
    runId: lv.runId,
    origin: lv.origin,
    ranAt: lv.finishedAt,
    flows: lv.flows,
    repaired: lv.repair && (lv.summary?.repairPublished ?? 0) > 0,
  };
  const sm = lv.summary;
  if (sm && (sm.drift > 0 || sm.missing > 0 || (sm.unlinked ?? 0) > 0)) {
    const byKind: Record<string, number> = {};
    const byPlatform: Record<string, number> = {};
    for (const f of sm.findings) {
      byKind[f.kind] = (byKind[f.kind] ?? 0) + f.count;
      byPlatform[f.platform] = (byPlatform[f.platform] ?? 0) + f.count;
    }
    const parts = [
      sm.drift > 0 && `${plural(sm.drift, 'field')} drifted from the base`,
      sm.missing > 0 &&
        `${plural(sm.missing, 'linked record')} no longer ${verb(sm.missing, 'exists', 'exist')}`,
      (sm.unlinked ?? 0) > 0 && `${plural(sm.unlinked ?? 0, 'item')} in scope with no link`,
    ].filter((x): x is string => typeof x === 'string');
    out.push({
      code: 'verify_drift',
      severity: 'warning',
      count: sm.drift + sm.missing + (sm.unlinked ?? 0),
      breakdown: byKind,
      verify,
      message: `${ran} found ${parts.join(', ')} (${Object.entries(byPlatform)
        .map(([p, n]) => `${p} ${n}`)
        .join(', ')}); ${
        verify.repaired
          ? `repaired: ${plural(sm.repairPublished ?? 0, 'change event')} handed to the reconciler`
          : 'not repaired (report only)'
      }`,
    });
  }
  if (lv.result === 'failed' || lv.result === 'incomplete')
    out.push({
      code: 'verify_incomplete',
      severity: 'warning',
      count: sm?.errors ?? 0,
      verify,
      message:
        lv.result === 'failed'
          ? `${ran} failed before it could report: ${lv.error ?? 'no reason recorded'}`
          : `${ran} could not read everything: ${plural(sm?.errors ?? 0, 'read')} failed (first: ${sm?.errorSample[0]?.message ?? 'n/a'})`,
    });
  return out;
}

/** One recommendation per issue, computed from its numbers; the order follows the issues'. */
export function recommend(issues: Issue[], stats: Stats, platforms: PlatformReport[]): Recommendation[] {
  const out: Recommendation[] = [];
  for (const i of issues) {
    const p = i.platform;
    switch (i.code) {
      case 'service_down':
        out.push({
          code: i.code,
          text: `${i.service} is not answering: check \`lockstep status\` and its log, then restart it`,
          command: 'lockstep status',
        });
        break;
      case 'unreachable':
        out.push({
          code: i.code,
          text: `${p} cannot be reached from here: check the network path and connectors.${p} (host/apiUrl)`,
          command: 'lockstep doctor',
        });
        break;
      case 'auth_failed':
      case 'auth_errors':
        // One recommendation per platform for both kinds of auth evidence.
        if (!out.some((r) => r.code === 'auth_failed' && r.text.startsWith(`${p}:`)))
          out.push({
            code: 'auth_failed',
            text: `${p}: the token in connectors.${p} is refused (revoked, expired or lacking scopes): issue a new one, update the configuration and restart egress-${p}; its writes are held meanwhile (lockstep_egress_credentials_refused is 1) and go on by themselves. Writes refused for want of a permission (403) are dead-lettered as auth: retry them once it is granted`,
            command: `lockstep dlq retry --all --category auth --stage egress-${p}`,
          });
        break;
      case 'breaker_open':
        out.push({
          code: i.code,
          text: `${p} is failing: its breaker opened after repeated errors; find the cause in egress-${p}'s log (writes resume by themselves once ${p} answers)`,
        });
        break;
      case 'rate_limited': {
        const cfg = platforms.find((x) => x.platform === p)?.rateLimit.configured;
        const minutes = stats.platforms[p!]?.sinceMinutes;
        out.push({
          code: i.code,
          text: `${p} answered 429 ${plural(i.count ?? 0, 'time')} ${sinceText(`egress-${p}`, minutes ?? null)}: lower egress.rateLimits.${p}.limit${cfg ? ` (now ${cfg.limit} per ${cfg.perMs} ms)` : ''} so Lockstep stays inside the quota it shares with other clients`,
        });
        break;
      }
      case 'validation_failures':
        out.push({
          code: i.code,
          text: `${p} rejected ${plural(i.count ?? 0, 'write')}: read the reasons with \`lockstep dlq list --category validation\`, fix the mapping (status map, fields) or the item, then retry or discard them`,
          command: 'lockstep dlq list --category validation',
        });
        break;
      case 'unresolved_fields': {
        const people = i.breakdown?.['assignee'] ?? 0;
        const statuses = i.breakdown?.['status'] ?? 0;
        const priorities = i.breakdown?.['priority'] ?? 0;
        if (people > 0)
          out.push({
            code: i.code,
            text: `${plural(people, 'assignee')} had no user with a matching email on ${p}: invite those people to ${p}, or add each to \`people:\` in lockstep.yaml with their user id on ${p} (\`people: [{ email: <their email>, ${p}: <their ${p} user id> }]\`), then restart the reconciler and egress-${p}`,
          });
        if (statuses > 0)
          out.push({
            code: i.code,
            text: `${plural(statuses, 'status', 'statuses')} had no counterpart on ${p}: add them to the flow's statusMap (with the ${p} name) or add the status/transition on ${p}`,
          });
        if (priorities > 0)
          out.push({
            code: i.code,
            text: `${plural(priorities, 'priority', 'priorities')} had no counterpart on ${p}: add them to the flow's priorityMap or connectors.${p}`,
          });
        break;
      }
      case 'conflicts_open':
        out.push({
          code: i.code,
          text: `${plural(i.count ?? 0, 'conflict')} ${verb(i.count ?? 0, 'waits', 'wait')} for a decision: settle each with \`lockstep conflicts resolve <id> --take <platform>\` (or --value)`,
          command: 'lockstep conflicts list',
        });
        break;
      case 'dead_letters': {
        const cats = Object.entries(i.breakdown ?? {})
          .map(([c, n]) => `${c} ${n}`)
          .join(', ');
        out.push({
          code: i.code,
          text: `${plural(i.count ?? 0, 'dead letter')} ${verb(i.count ?? 0, 'is', 'are')} open (${cats}): read each with \`lockstep dlq show <id>\`, fix the cause, then \`lockstep dlq retry\` or \`discard\` it`,
          command: 'lockstep dlq list --state open',
        });
        break;
      }
      case 'backlog':
        out.push({
          code: i.code,
          text: `${i.message}: if it keeps growing, the consumer is stuck or too slow; see its log and \`lockstep status\``,
          command: 'lockstep status',
        });
        break;
      case 'notes_failed':
        out.push({
          code: i.code,
          text: `${p}: ${plural(i.count ?? 0, 'note')} saying a field could not be carried ${verb(i.count ?? 0, 'was', 'were')} given up after egress.maxAttempts: find the items with \`lockstep audit --since 7d --json\` (result note_failed), fix the cause (permissions to comment, the item gone), and the next write of the same value posts the note again`,
          command: 'lockstep audit --since 7d --json',
        });
        break;
      case 'not_backfilled': {
        const flow = i.flow ?? '<id>';
        out.push({
          code: i.code,
          text: `flow ${flow}: run a backfill to pair the items that already correspond and create the rest (see what it would do first with --dry-run)`,
          command: `lockstep backfill --flow ${flow} --dry-run`,
        });
        break;
      }
      case 'verify_drift': {
        const scheduleHint = stats.verify.schedule
          ? ''
          : '; to look for drift regularly, set reconciler.verifyEvery (e.g. 6h) in lockstep.yaml';
        out.push(
          i.verify?.repaired
            ? {
                code: i.code,
                text: `the last verify repaired what it found: run \`lockstep verify\` to confirm everything is now in step${scheduleHint}`,
                command: 'lockstep verify',
              }
            : {
                code: i.code,
                text: `settle the drift through the pipeline by each field’s policy (records gone by the flow’s onDelete): \`lockstep verify --repair\`, or set reconciler.verifyRepair: true for the scheduled runs${scheduleHint}`,
                command: 'lockstep verify --repair',
              },
        );
        break;
      }
      case 'verify_incomplete':
        out.push({
          code: i.code,
          text: `${i.message}: check the platforms and the connections (\`lockstep doctor\`), then run \`lockstep verify\` again${stats.verify.schedule ? ' (the schedule retries sooner after an incomplete run)' : ''}`,
          command: 'lockstep doctor',
        });
        break;
      case 'verify_never':
        out.push({
          code: i.code,
          text: stats.verify.schedule
            ? `the reconciler verifies every ${stats.verify.schedule} (reconciler.verifyEvery); to compare every linked item with its base now, run \`lockstep verify\``
            : 'run `lockstep verify` to compare every linked item with its base, and set reconciler.verifyEvery (e.g. 6h) in lockstep.yaml so the reconciler does it in the background',
          command: 'lockstep verify',
        });
        break;
      case 'not_counted':
        out.push({
          code: i.code,
          text: `${i.message}: check that Kafka and Postgres are up (\`lockstep doctor\`)`,
        });
        break;
    }
  }
  return out;
}

/**
 * The recommendations as an ordered to-do: the commands to run (each once, most severe issue
 * first), then the configuration changes recommended without a command, then a re-run.
 */
export function nextSteps(recommendations: Recommendation[]): string[] {
  if (recommendations.length === 0)
    return ['nothing needs doing: run `lockstep report` again after the next busy period'];
  const steps: string[] = [];
  for (const r of recommendations)
    if (r.command && !steps.some((s) => s.startsWith(`\`${r.command}\``)))
      steps.push(`\`${r.command}\` (${r.code.replaceAll('_', ' ')})`);
  const changes = recommendations.filter((r) => !r.command).map((r) => r.code.replaceAll('_', ' '));
  if (changes.length > 0)
    steps.push(
      `make the configuration changes recommended above (${[...new Set(changes)].join(', ')}), then restart the services they concern`,
    );
  steps.push('run `lockstep report` again to see the issues go');
  return steps.map((s, n) => `${n + 1}. ${s}`);
}

/** The fixed caveats of this version, said in every report. */
export const REPORT_NOTES = [
  'counts and rates are per process: since each service started, not over a sliding window',
  'latency percentiles are estimated from histogram buckets (0.25 s … 1 h)',
  'fields without a counterpart are counted per write, not per distinct person or status',
];

export function buildReport(inputs: ReportInputs): Report {
  const platforms = platformReports(inputs);
  const stats = computeStats(inputs);
  const issues = identifyIssues(inputs, platforms, stats);
  const recommendations = recommend(issues, stats, platforms);
  return {
    generatedAt: new Date(inputs.nowMs).toISOString(),
    platforms,
    flows: inputs.flows,
    stats,
    issues,
    recommendations,
    nextSteps: nextSteps(recommendations),
    notes: REPORT_NOTES,
  };
}

// ---------------------------------------------------------------- text

const yesNo = (v: boolean | null, yes: string, no: string) => (v === null ? 'unknown' : v ? yes : no);
const secs = (v: number | null) => (v === null ? 'n/a' : `${v < 10 ? v.toFixed(2) : v.toFixed(1)} s`);

export function renderText(r: Report): string {
  const lines: string[] = [`Lockstep report, ${r.generatedAt}`, ''];
  lines.push('Platforms');
  for (const p of r.platforms) {
    const rl = p.rateLimit;
    lines.push(
      `  ${p.platform}: ${yesNo(p.reachable, 'reachable', 'UNREACHABLE')}, credentials ${yesNo(p.credentialsValid, 'valid', 'REFUSED')}; ` +
        `breaker ${p.breakerOpen === null ? 'unknown' : p.breakerOpen ? 'OPEN' : 'closed'}; ` +
        `rate-limit headroom ${rl.headroomRatio === null ? 'unknown' : `${Math.round(rl.headroomRatio * 100)}%`}` +
        `${rl.waitSeconds ? ` (next request waits ${rl.waitSeconds.toFixed(1)} s)` : ''} of ${rl.configured.limit} per ${rl.configured.perMs} ms`,
    );
    lines.push(`    ${p.credentialDetail}`);
  }
  lines.push('', 'Flows');
  for (const f of r.flows) {
    lines.push(
      `  ${f.id}: ${f.sides.map((s) => `${s.platform}:${s.workspace}`).join(f.direction === 'both' ? ' <-> ' : ' -> ')}; ` +
        `policies ${Object.entries(f.policies)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}; ${f.statusMapEntries} status map entries; on delete ${f.onDelete}`,
    );
  }
  const c = r.stats.changes;
  lines.push('', 'Statistics');
  lines.push(
    `  changes: ${c.total ?? 'n/a'} ${sinceText('ingest', c.sinceMinutes)}` +
      `${c.perMinute === null ? '' : `, ${c.perMinute} per minute`}` +
      `${
        Object.keys(c.byPlatform).length
          ? ` (${Object.entries(c.byPlatform)
              .map(([p, n]) => `${p} ${n}`)
              .join(', ')})`
          : ''
      }`,
  );
  lines.push(`  reconciler backlog: ${r.stats.reconcilerBacklog ?? 'n/a'}`);
  const v = r.stats.verify;
  const lv = v.last;
  const sm = lv?.summary;
  lines.push(
    `  last verify: ${
      v.error
        ? `unknown (${v.error})`
        : !lv
          ? 'none recorded'
          : `${lv.result} at ${lv.finishedAt} (${lv.origin === 'schedule' ? 'scheduled' : 'lockstep verify'}, flow ${lv.flows.join(', ')})` +
            (sm
              ? `: ${sm.links.checked} links checked, ${sm.drift} drifted fields, ${sm.missing} missing, ${sm.unlinked ?? 'n/a'} unlinked, ${sm.errors} read errors; ${lv.repair ? `repair on (${sm.repairPublished ?? 0} events)` : 'report only'}`
              : '')
    }; schedule: ${v.schedule ? `every ${v.schedule}` : 'off (reconciler.verifyEvery)'}`,
  );
  if (r.stats.notes === null) lines.push('  notes on items: unknown (see issues)');
  else if (Object.keys(r.stats.notes).length === 0) lines.push('  notes on items: none');
  else
    lines.push(
      `  notes on items: ${Object.entries(r.stats.notes)
        .map(([p, n]) => `${p} ${n.posted} posted, ${n.pending} pending, ${n.failed} failed`)
        .join('; ')}`,
    );
  for (const [platform, s] of Object.entries(r.stats.platforms)) {
    const calls = Object.entries(s.apiCalls)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    lines.push(
      `  ${platform} ${sinceText(`egress-${platform}`, s.sinceMinutes)}: ${s.writes} writes; API calls ${calls || 'none'}; ` +
        `latency p50 ${secs(s.latency.p50Seconds)}, p99 ${secs(s.latency.p99Seconds)} over ${s.latency.count}; backlog ${s.backlog ?? 'n/a'}`,
    );
  }
  lines.push('', 'Issues');
  if (r.issues.length === 0) lines.push('  none found');
  for (const i of r.issues) lines.push(`  [${i.severity}] ${i.message}`);
  lines.push('', 'Recommendations');
  if (r.recommendations.length === 0) lines.push('  none');
  for (const rec of r.recommendations) lines.push(`  - ${rec.text}`);
  lines.push('', 'Next steps');
  for (const s of r.nextSteps) lines.push(`  ${s}`);
  lines.push('', 'Not covered yet');
  for (const n of r.notes) lines.push(`  - ${n}`);
  return `${lines.join('\n')}\n`;
}
