import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildReport,
  histogramQuantile,
  nextSteps,
  parsePrometheusText,
  renderText,
  sum,
  type ReportInputs,
  type Sample,
} from './report.ts';
import type { VerifyRun, VerifyRunSummary } from './verify-runs.ts';

const NOW = Date.parse('2026-12-02T12:00:00Z');
const STARTED = (NOW - 30 * 60_000) / 1000; // every service started 30 min before NOW

/** A verify run recorded `minutesAgo` before NOW, with the summary's counts given. */
function verifyRun(
  over: Partial<VerifyRun> = {},
  sum: Partial<VerifyRunSummary> = {},
  minutesAgo = 90,
): VerifyRun {
  const at = new Date(NOW - minutesAgo * 60_000).toISOString();
  return {
    runId: 'r1',
    origin: 'schedule',
    flows: ['eng'],
    startedAt: at,
    finishedAt: at,
    result: 'in_step',
    repair: false,
    error: null,
    summary: {
      links: { checked: 40, pending: 0, closed: 1 },
      drift: 0,
      missing: 0,
      unlinked: 0,
      waiting: 0,
      errors: 0,
      findings: [],
      repairPublished: null,
      sample: [],
      errorSample: [],
      durationMs: 1200,
      ...sum,
    },
    ...over,
  };
}

const DRIFTED: Partial<VerifyRunSummary> = {
  drift: 3,
  missing: 1,
  unlinked: 2,
  findings: [
    { flow: 'eng', platform: 'alpha', kind: 'field', count: 1 },
    { flow: 'eng', platform: 'alpha', kind: 'unlinked', count: 2 },
    { flow: 'eng', platform: 'beta', kind: 'field', count: 2 },
    { flow: 'eng', platform: 'beta', kind: 'missing', count: 1 },
  ],
};

/** Prometheus text for the samples given as `name{labels} value` lines, plus a process start time. */
function metrics(...lines: string[]): Sample[] {
  return parsePrometheusText([`process_start_time_seconds ${STARTED}`, ...lines].join('\n'));
}

function inputs(
  over: Partial<ReportInputs> = {},
  egress: Record<string, Sample[] | null> = {},
): ReportInputs {
  return {
    nowMs: NOW,
    platforms: ['alpha', 'beta'],
    flows: [
      {
        id: 'eng',
        sides: [
          { platform: 'alpha', workspace: 'A' },
          { platform: 'beta', workspace: 'B' },
        ],
        direction: 'both',
        policies: { default: 'last-write-wins' },
        statusMapEntries: 3,
        onDelete: 'unlink',
      },
    ],
    rateLimits: { alpha: { limit: 100, perMs: 1000 }, beta: { limit: 50, perMs: 1000 } },
    credentials: [
      { platform: 'alpha', reachable: true, credentialsValid: true, detail: 'authenticated as a-bot' },
      { platform: 'beta', reachable: true, credentialsValid: true, detail: 'authenticated as b-bot' },
    ],
    scrapes: [
      {
        service: 'ingest',
        url: 'i',
        samples: metrics('lockstep_ingest_events_total{platform="alpha",via="webhook"} 60'),
      },
      {
        service: 'reconciler',
        url: 'r',
        samples: metrics('lockstep_consumer_lag{group="g",topic="t",partition="0"} 0'),
      },
      ...(['alpha', 'beta'] as const).map((p) => ({
        service: `egress-${p}`,
        url: p,
        samples: p in egress ? egress[p]! : metrics(`lockstep_egress_breaker_open{platform="${p}"} 0`),
        ...(egress[p] === null && { error: 'connect ECONNREFUSED' }),
      })),
    ],
    openConflicts: { byFlow: { eng: 0 }, oldestAgeMs: null },
    deadLetters: [],
    lastVerify: { run: verifyRun() },
    verifyEveryMs: 6 * 3_600_000,
    notes: { byPlatform: { alpha: { pending: 1, posted: 4, failed: 0 } } },
    ...over,
  };
}

describe('parsePrometheusText', () => {
  it('reads names, labels (escaped), values, and skips comments', () => {
    const s = parsePrometheusText(
      [
        '# HELP x help',
        '# TYPE x counter',
        'x{a="1",b="say \\"hi\\"\\\\"} 3',
        'y 4.5',
        'z{le="+Inf"} 7',
        '',
      ].join('\n'),
    );
    assert.deepEqual(s, [
      { name: 'x', labels: { a: '1', b: 'say "hi"\\' }, value: 3 },
      { name: 'y', labels: {}, value: 4.5 },
      { name: 'z', labels: { le: '+Inf' }, value: 7 },
    ]);
    assert.equal(sum(s, 'x', { a: '1' }), 3);
    assert.equal(sum(s, 'x', { a: '2' }), 0);
  });
});

describe('histogramQuantile', () => {
  const cases: { name: string; q: number; buckets: { le: number; count: number }[]; want: number | null }[] =
    [
      { name: 'empty', q: 0.5, buckets: [{ le: Infinity, count: 0 }], want: null },
      {
        name: 'interpolates inside the bucket',
        q: 0.5,
        buckets: [
          { le: 1, count: 0 },
          { le: 2, count: 10 },
          { le: Infinity, count: 10 },
        ],
        want: 1.5,
      },
      {
        name: 'first bucket starts at 0',
        q: 0.5,
        buckets: [
          { le: 1, count: 4 },
          { le: Infinity, count: 4 },
        ],
        want: 0.5,
      },
      {
        name: 'beyond the last finite bucket: its bound',
        q: 0.99,
        buckets: [
          { le: 1, count: 1 },
          { le: Infinity, count: 10 },
        ],
        want: 1,
      },
    ];
  for (const c of cases) it(c.name, () => assert.equal(histogramQuantile(c.q, c.buckets), c.want));
});

describe('numbers → issues → recommendations', () => {
  const cases: {
    name: string;
    input: ReportInputs;
    issues: string[];
    /** A pattern each recommendation must match, in order. */
    recommendations: RegExp[];
  }[] = [
    { name: 'all well: no issue, no recommendation', input: inputs(), issues: [], recommendations: [] },
    {
      name: 'a refused token, and the writes it refused, give one recommendation',
      input: inputs(
        {
          credentials: [
            { platform: 'alpha', reachable: true, credentialsValid: true, detail: 'ok' },
            { platform: 'beta', reachable: true, credentialsValid: false, detail: '401 Unauthorized' },
          ],
        },
        { beta: metrics('lockstep_egress_api_calls_total{platform="beta",result="auth"} 2') },
      ),
      issues: ['auth_failed:beta', 'auth_errors:beta:2'],
      recommendations: [/^beta: the token in connectors\.beta is refused/],
    },
    {
      name: 'an unreachable platform',
      input: inputs({
        credentials: [
          { platform: 'alpha', reachable: false, credentialsValid: null, detail: 'ECONNREFUSED' },
          { platform: 'beta', reachable: true, credentialsValid: true, detail: 'ok' },
        ],
      }),
      issues: ['unreachable:alpha'],
      recommendations: [/alpha cannot be reached/],
    },
    {
      name: '429s: the count, the window the counter covers, and the setting to lower',
      input: inputs(
        {},
        { beta: metrics('lockstep_egress_api_calls_total{platform="beta",result="rate_limit"} 38') },
      ),
      issues: ['rate_limited:beta:38'],
      recommendations: [
        /^beta answered 429 38 times since egress-beta started \(30 min ago\): lower egress\.rateLimits\.beta\.limit \(now 50 per 1000 ms\)/,
      ],
    },
    {
      name: 'people and statuses with no counterpart, counted per field',
      input: inputs(
        {},
        {
          alpha: metrics(
            'lockstep_egress_unresolved_fields_total{platform="alpha",field="assignee"} 14',
            'lockstep_egress_unresolved_fields_total{platform="alpha",field="status"} 2',
            'lockstep_egress_unresolved_fields_total{platform="alpha",field="priority"} 0',
          ),
        },
      ),
      issues: ['unresolved_fields:alpha:16'],
      recommendations: [
        /^14 assignees had no user with a matching email on alpha/,
        /^2 statuses had no counterpart on alpha/,
      ],
    },
    {
      name: 'open conflicts and open dead letters by category (handled ones are not counted)',
      input: inputs({
        openConflicts: { byFlow: { eng: 3 }, oldestAgeMs: 1000 },
        deadLetters: [
          { stage: 'egress-beta', category: 'validation', state: 'open' },
          { stage: 'egress-beta', category: 'validation', state: 'open' },
          { stage: 'egress-beta', category: 'auth', state: 'open' },
          { stage: 'egress-beta', category: 'network', state: 'retried' },
        ],
      }),
      issues: ['dead_letters::3', 'conflicts_open::3'],
      recommendations: [
        /^3 dead letters are open \(validation 2, auth 1\)/,
        /^3 conflicts wait for a decision/,
      ],
    },
    {
      name: 'a service that does not answer, and an open breaker',
      input: inputs({}, { alpha: null, beta: metrics('lockstep_egress_breaker_open{platform="beta"} 1') }),
      issues: ['service_down:', 'breaker_open:beta'],
      recommendations: [/^egress-alpha is not answering/, /^beta is failing: its breaker opened/],
    },
    {
      name: 'validation answers and a backlog',
      input: inputs(
        {},
        {
          alpha: metrics(
            'lockstep_egress_api_calls_total{platform="alpha",result="validation"} 1',
            'lockstep_consumer_lag{group="g",topic="t",partition="0"} 70',
            'lockstep_consumer_lag{group="g",topic="t",partition="1"} 30',
          ),
        },
      ),
      issues: ['validation_failures:alpha:1', 'backlog:alpha:100'],
      recommendations: [/^alpha rejected 1 write/, /^100 commands wait in Kafka for egress-alpha/],
    },
    {
      name: 'what could not be read is said, not counted as zero',
      input: inputs({ openConflicts: { error: 'ECONNREFUSED' }, deadLetters: { error: 'broker down' } }),
      issues: ['not_counted:', 'not_counted:'],
      recommendations: [/open conflicts could not be read/, /dead letters could not be read/],
    },
    {
      name: 'drift from the last verify, not repaired: the counts, and verify --repair',
      input: inputs({ lastVerify: { run: verifyRun({ result: 'drift' }, DRIFTED) } }),
      issues: ['verify_drift::6'],
      recommendations: [/^settle the drift through the pipeline .*`lockstep verify --repair`/],
    },
    {
      name: 'drift the last verify repaired: confirm with another verify; no schedule: set verifyEvery',
      input: inputs({
        lastVerify: {
          run: verifyRun(
            { result: 'drift', repair: true, origin: 'cli', flows: ['eng'] },
            { ...DRIFTED, repairPublished: 4 },
          ),
        },
        verifyEveryMs: null,
      }),
      issues: ['verify_drift::6'],
      recommendations: [
        /^the last verify repaired what it found: run `lockstep verify` .*set reconciler\.verifyEvery \(e\.g\. 6h\)/,
      ],
    },
    {
      name: 'no verify ever ran, no schedule: run verify and schedule verifyEvery',
      input: inputs({ lastVerify: { run: null }, verifyEveryMs: null }),
      issues: ['verify_never:'],
      recommendations: [/^run `lockstep verify` .*set reconciler\.verifyEvery \(e\.g\. 6h\)/],
    },
    {
      name: 'a verify that could not read everything, and one that failed',
      input: inputs({
        lastVerify: {
          run: verifyRun(
            { result: 'incomplete' },
            { errors: 7, errorSample: [{ platform: 'beta', message: 'reading issue B-1: 503' }] },
          ),
        },
      }),
      issues: ['verify_incomplete::7'],
      recommendations: [/could not read everything: 7 reads failed \(first: reading issue B-1: 503\)/],
    },
    {
      name: 'notes given up: per platform, with the latest reason, and where to find them',
      input: inputs({
        notes: {
          byPlatform: {
            alpha: { pending: 0, posted: 2, failed: 0 },
            beta: { pending: 1, posted: 0, failed: 3, lastError: 'posting the note: 403 Forbidden' },
          },
        },
      }),
      issues: ['notes_failed:beta:3'],
      recommendations: [/^beta: 3 notes .* were given up .*`lockstep audit --since 7d --json`/],
    },
    {
      name: 'notes unreadable are said, not taken as none',
      input: inputs({ notes: { error: 'relation "item_notes" does not exist' } }),
      issues: ['not_counted:'],
      recommendations: [/the notes on items could not be read: relation/],
    },
    {
      name: 'the last verify run unreadable is said, not taken as none',
      input: inputs({ lastVerify: { error: 'ECONNREFUSED' } }),
      issues: ['not_counted:'],
      recommendations: [/the last verify run could not be read: ECONNREFUSED/],
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const r = buildReport(c.input);
      assert.deepEqual(
        r.issues.map((i) =>
          [i.code, i.platform ?? '', ...(i.count === undefined ? [] : [i.count])].join(':'),
        ),
        c.issues,
      );
      assert.equal(r.recommendations.length, c.recommendations.length, JSON.stringify(r.recommendations));
      c.recommendations.forEach((re, n) => assert.match(r.recommendations[n]!.text, re));
      const drift = c.input.lastVerify;
      if ('run' in drift && drift.run?.result === 'drift') {
        const issue = r.issues.find((i) => i.code === 'verify_drift')!;
        assert.deepEqual(issue.breakdown, { field: 3, unlinked: 2, missing: 1 });
        assert.equal(issue.verify?.ranAt, drift.run.finishedAt);
        assert.equal(issue.verify?.repaired, drift.run.repair);
        assert.equal(
          r.recommendations.find((x) => x.code === 'verify_drift')?.command,
          drift.run.repair ? 'lockstep verify' : 'lockstep verify --repair',
        );
        assert.match(
          issue.message,
          /found 3 fields drifted from the base, 1 linked record no longer exists, 2 items in scope with no link \(alpha 3, beta 3\); (repaired: 4 change events|not repaired)/,
        );
      }
      assert.match(
        r.nextSteps.at(-1)!,
        c.recommendations.length ? /run `lockstep report` again/ : /nothing needs doing/,
      );
    });
});

describe('stats', () => {
  it('changes per minute from a counter and the process start time; latency from the histogram', () => {
    const r = buildReport(
      inputs(
        {},
        {
          beta: metrics(
            'lockstep_egress_commands_total{platform="beta",result="applied"} 5',
            'lockstep_egress_commands_total{platform="beta",result="skipped_stale"} 1',
            'lockstep_egress_api_calls_total{platform="beta",result="ok"} 6',
            'lockstep_sync_latency_seconds_bucket{platform="beta",source_platform="alpha",le="1"} 2',
            'lockstep_sync_latency_seconds_bucket{platform="beta",source_platform="alpha",le="2"} 4',
            'lockstep_sync_latency_seconds_bucket{platform="beta",source_platform="alpha",le="+Inf"} 4',
            'lockstep_sync_latency_seconds_count{platform="beta",source_platform="alpha"} 4',
          ),
        },
      ),
    );
    assert.equal(r.stats.changes.total, 60);
    assert.equal(r.stats.changes.sinceMinutes, 30);
    assert.equal(r.stats.changes.perMinute, 2);
    const beta = r.stats.platforms['beta']!;
    assert.equal(beta.writes, 5);
    assert.deepEqual(beta.commands, { applied: 5, skipped_stale: 1 });
    assert.equal(beta.latency.count, 4);
    assert.equal(beta.latency.p50Seconds, 1);
    assert.equal(beta.latency.p99Seconds, 1.98);
  });

  it('next steps: each command once, then the configuration changes, then a re-run', () => {
    assert.deepEqual(
      nextSteps([
        { code: 'dead_letters', text: 'x', command: 'lockstep dlq list --state open' },
        { code: 'rate_limited', text: 'y' },
        { code: 'unresolved_fields', text: 'z' },
        { code: 'dead_letters', text: 'x2', command: 'lockstep dlq list --state open' },
      ]),
      [
        '1. `lockstep dlq list --state open` (dead letters)',
        '2. make the configuration changes recommended above (rate limited, unresolved fields), then restart the services they concern',
        '3. run `lockstep report` again to see the issues go',
      ],
    );
  });

  it('the text has every section and says what it cannot cover', () => {
    const text = renderText(buildReport(inputs()));
    for (const section of ['Platforms', 'Flows', 'Statistics', 'Issues', 'Recommendations', 'Next steps'])
      assert.match(text, new RegExp(`^${section}$`, 'm'));
    assert.match(
      text,
      /last verify: in_step at 2026-12-02T10:30:00\.000Z \(scheduled, flow eng\): 40 links checked/,
    );
    assert.match(text, /schedule: every 6h/);
    const never = renderText(buildReport(inputs({ lastVerify: { run: null }, verifyEveryMs: null })));
    assert.match(never, /^ {2}last verify: none recorded; schedule: off/m);
    assert.match(never, /^ {2}\[info\] no verify has run: /m);
    assert.match(text, /changes: 60 since ingest started \(30 min ago\), 2 per minute/);
  });
});
