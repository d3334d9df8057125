/**
 * Debian's Prometheus, for real, scraping a real end-to-end world (ingest, reconciler and egress per
 * platform, started by the launcher): a sync from Linear to Jira happens, then Prometheus's HTTP API
 * shows every service up, the alert rules loaded and healthy, and the metrics an operator needs
 * with sane labels and values. Every check waits on a condition (scrapes every second), bounded.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { pipelineServices } from '../../services/app/launcher.ts';
import { eventually, startE2E, type E2E } from '../e2e/harness.ts';
import { jiraIssues, linearIds } from '../e2e/helpers.ts';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.ts';
import { metricNamesIn } from '../support/promql.ts';

const DEPLOY = join(import.meta.dirname, '..', '..', 'deploy');
const RULES = join(DEPLOY, 'prometheus', 'lockstep-rules.yml');
const BOUND_MS = 120_000;

/** The label names any Lockstep series may carry: none of them names an item. */
const ALLOWED_LABELS = new Set([
  '__name__',
  'job',
  'instance',
  'service',
  'platform',
  'source_platform',
  'result',
  'group',
  'topic',
  'partition',
  'flow',
  'source',
  'stage',
  'category',
  'via',
  'schema',
  'code',
  'step',
  'table',
  // A synced field's name (lockstep_egress_unresolved_fields_total): one of a fixed list.
  'field',
  'le',
]);

type Sample = { metric: Record<string, string>; value: [number, string] };

describe('Prometheus scrapes the running pipeline', { timeout: 600_000 }, () => {
  let e: E2E;
  let prom: RunningPrometheus;
  const created = { linearId: '', linearKey: '', jiraKey: '' };

  /** Waits until `expr` returns samples that satisfy `ok`; the message says what did not appear. */
  const until = async (what: string, expr: string, ok: (r: Sample[]) => boolean): Promise<Sample[]> => {
    const deadline = Date.now() + BOUND_MS;
    let last: Sample[] | string = [];
    while (Date.now() < deadline) {
      try {
        const r = await prom.query(expr);
        if (ok(r)) return r;
        last = r;
      } catch (err) {
        last = String(err);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(
      `waiting for ${what} (${expr}): not within ${BOUND_MS} ms; last answer: ${JSON.stringify(last)}`,
    );
  };
  const num = (s: Sample) => Number(s.value[1]);

  before(async () => {
    e = await startE2E({ pollIntervalMs: 1000 });
    prom = await startPrometheus(
      pipelineServices(e.config).map((s) => ({ job: `lockstep-${s.name}`, port: s.port })),
      { scrapeIntervalS: 1, ruleFiles: [RULES] },
    );
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    const issue = await (await bob.createIssue({ teamId: ids.teamId, title: 'Metrics: sync me' })).issue;
    assert.ok(issue);
    created.linearId = issue.id;
    created.linearKey = issue.identifier;
    const jira = e.jiraAs('carol');
    const found = await eventually(
      'the Linear issue in Jira',
      async () => (await jiraIssues(jira)).find((i) => i.fields.summary === 'Metrics: sync me'),
      BOUND_MS,
    );
    created.jiraKey = found.key ?? '';
  });
  after(async () => {
    await prom?.stop();
    await e?.stop();
  });

  it('every service is a target that is up, and the alert rules load healthy', async () => {
    const jobs = pipelineServices(e.config).map((s) => `lockstep-${s.name}`);
    const seenUp = new Set<string>();
    const deadline = Date.now() + BOUND_MS;
    let last = '';
    // A scrape can time out on a loaded machine: each target must have been up, not all in one instant.
    while (seenUp.size < jobs.length && Date.now() < deadline) {
      const t = await prom.api<{
        activeTargets: { labels: { job: string }; health: string; lastError: string }[];
      }>('targets');
      for (const x of t.activeTargets) if (x.health === 'up') seenUp.add(x.labels.job);
      last = JSON.stringify(t.activeTargets.map((x) => [x.labels.job, x.health, x.lastError]));
      if (seenUp.size < jobs.length) await new Promise((r) => setTimeout(r, 500));
    }
    assert.deepEqual([...seenUp].sort(), [...jobs].sort(), `targets not up within ${BOUND_MS} ms: ${last}`);

    const rules = await prom.api<{
      groups: { rules: { name: string; health: string; lastError?: string }[] }[];
    }>('rules');
    const loaded = rules.groups.flatMap((g) => g.rules);
    assert.ok(loaded.length >= 8, `rules loaded: ${loaded.map((r) => r.name).join(', ')}`);
    // Evaluated at least once, without error, against the real series.
    await eventually(
      'every rule evaluated healthy',
      async () => {
        const r = await prom.api<{
          groups: { rules: { name: string; health: string; lastError?: string }[] }[];
        }>('rules');
        const all = r.groups.flatMap((g) => g.rules);
        const bad = all.filter((x) => x.health === 'err');
        if (bad.length) throw new Error(`rules in error: ${JSON.stringify(bad)}`);
        return all.every((x) => x.health === 'ok');
      },
      BOUND_MS,
    );
  });

  it('consumer lag per group, topic and partition, back to 0 once the sync is done', async () => {
    const clientId = e.config.kafka.clientId;
    const partitions = e.config.kafka.partitions;
    const groups = [`${clientId}-reconciler`, ...['linear', 'jira'].map((p) => `${clientId}-egress-${p}`)];
    const r = await until(
      'lag series of every group',
      'lockstep_consumer_lag',
      (s) =>
        s.filter((x) => x.metric.group === groups[0]).length === 2 * partitions &&
        groups.slice(1).every((g) => s.filter((x) => x.metric.group === g).length === partitions),
    );
    for (const s of r) {
      assert.ok(groups.includes(s.metric.group!), `unexpected group ${s.metric.group}`);
      assert.match(s.metric.partition!, /^\d+$/);
      assert.ok(Number.isInteger(num(s)) && num(s) >= 0, `lag ${s.value[1]}`);
    }
    const reconcilerTopics = new Set(
      r.filter((x) => x.metric.group === groups[0]).map((x) => x.metric.topic),
    );
    assert.deepEqual(
      [...reconcilerTopics].sort(),
      [e.config.kafka.topics.changes, e.config.kafka.topics.outcomes].sort(),
    );
    await until(
      'every group caught up (lag 0)',
      'sum by (group) (lockstep_consumer_lag)',
      (s) => s.length === groups.length && s.every((x) => num(x) === 0),
    );
  });

  it('end-to-end latency, writes and API calls per platform', async () => {
    const lat = await until(
      'a latency observation for linear → jira',
      'lockstep_sync_latency_seconds_count{platform="jira",source_platform="linear"}',
      (s) => s.length === 1 && num(s[0]!) >= 1,
    );
    assert.equal(lat[0]!.metric.service, 'egress-jira');
    const mean = await prom.query(
      'lockstep_sync_latency_seconds_sum{platform="jira"} / lockstep_sync_latency_seconds_count{platform="jira"}',
    );
    assert.ok(
      mean.length === 1 && num(mean[0]!) > 0 && num(mean[0]!) < BOUND_MS / 1000,
      JSON.stringify(mean),
    );
    await until(
      'the latency histogram buckets',
      'lockstep_sync_latency_seconds_bucket{platform="jira",le="+Inf"}',
      (s) => s.length === 1 && num(s[0]!) >= 1,
    );
    await until(
      'an applied write to jira',
      'sum(lockstep_egress_commands_total{platform="jira",result="applied"})',
      (s) => s.length === 1 && num(s[0]!) >= 1,
    );
    await until(
      'a successful API call to jira',
      'lockstep_egress_api_calls_total{platform="jira",result="ok"}',
      (s) => s.length === 1 && num(s[0]!) >= 1,
    );
    // Errors by category: each category's series is there from the start, at 0 here.
    const errors = await until(
      'API error series by category',
      'lockstep_egress_api_calls_total{result!="ok"}',
      (s) => s.some((x) => x.metric.result === 'auth' && x.metric.platform === 'linear'),
    );
    for (const s of errors) assert.equal(num(s), 0, `${JSON.stringify(s.metric)}: an error in a clean sync`);
  });

  it('breakers closed, no conflicts open, no dead letters, webhooks accepted, polls recent', async () => {
    const breakers = await until(
      'a breaker series per platform',
      'lockstep_egress_breaker_open',
      (s) => s.length === 2,
    );
    assert.deepEqual(breakers.map((s) => s.metric.platform).sort(), ['jira', 'linear']);
    for (const s of breakers) assert.equal(num(s), 0);

    const conflicts = await until(
      'conflicts of flow eng',
      'lockstep_reconciler_conflicts_open',
      (s) => s.length === 1,
    );
    assert.equal(conflicts[0]!.metric.flow, 'eng');
    assert.equal(num(conflicts[0]!), 0);
    const age = await until(
      'oldest conflict age',
      'lockstep_reconciler_conflict_oldest_open_age_seconds',
      (s) => s.length === 1,
    );
    assert.equal(num(age[0]!), 0);

    const dead = await until(
      'dead-letter series of every stage',
      'sum by (stage) (lockstep_dead_letters_total)',
      (s) => s.length === 4,
    );
    assert.deepEqual(dead.map((s) => s.metric.stage).sort(), [
      'egress-jira',
      'egress-linear',
      'ingest',
      'reconciler',
    ]);
    for (const s of dead) assert.equal(num(s), 0, `dead letters in ${s.metric.stage}`);

    await until(
      'an accepted Linear webhook',
      'lockstep_ingest_webhooks_total{platform="linear",result="accepted"}',
      (s) => s.length === 1 && num(s[0]!) >= 1,
    );
    const sig = await prom.query('lockstep_ingest_webhooks_total{result="bad_signature"}');
    assert.equal(sig.length, 2, JSON.stringify(sig));
    for (const s of sig) assert.equal(num(s), 0);

    // Poll lag: a poll round completes every second here; well under a minute even on a loaded machine.
    await until(
      'recent successful polls of both platforms',
      'time() - lockstep_ingest_last_successful_poll_timestamp_seconds',
      (s) => s.length === 2 && s.every((x) => num(x) >= 0 && num(x) < 60),
    );
  });

  it('labels stay bounded: no item id in any label, only the known label names', async () => {
    const series = await prom.api<Record<string, string>[]>('series', {
      'match[]': '{__name__=~"lockstep_.+"}',
    });
    assert.ok(series.length > 50 && series.length < 2000, `${series.length} lockstep series`);
    for (const s of series) {
      for (const [k, v] of Object.entries(s)) {
        assert.ok(ALLOWED_LABELS.has(k), `label ${k} on ${s.__name__}`);
        for (const id of [created.linearId, created.linearKey, created.jiraKey].filter(Boolean))
          assert.ok(!v.includes(id), `${s.__name__} label ${k}=${v} names an item`);
      }
    }
  });

  it('every metric the alert rules and the dashboard use is in the scrape', async () => {
    const names = new Set(await prom.api<string[]>('label/__name__/values'));
    const rules = (
      parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { expr: string }[] }[] }
    ).groups.flatMap((g) => g.rules);
    const dash = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'lockstep.json'), 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const exprs = [
      ...rules.map((r) => r.expr),
      ...dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ];
    // Counted only when they happen (Postgres/Kafka trouble while recording an outcome): no series in a clean run.
    const onlyOnTrouble = new Set(['lockstep_egress_infra_retries_total']);
    const missing = [...new Set(exprs.flatMap(metricNamesIn))].filter(
      (n) => !names.has(n) && !onlyOnTrouble.has(n),
    );
    assert.deepEqual(missing, [], 'metrics used by rules or dashboard but not scraped');
  });
});
