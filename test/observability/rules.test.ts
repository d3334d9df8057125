/**
 * deploy/prometheus/lockstep-rules.yml: valid for Debian's promtool, every alert's promtool unit
 * tests pass (lockstep-rules.test.yml), every alert tells the operator what to do, and the rules
 * only use metrics the services export.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { PROMTOOL_BIN, requireBinary } from '../support/prometheus.ts';
import { exportedMetricNames, metricNamesIn } from '../support/promql.ts';

const DIR = join(import.meta.dirname, '..', '..', 'deploy', 'prometheus');
const run = promisify(execFile);

interface Rule {
  alert?: string;
  expr: string;
  annotations?: Record<string, string>;
}
const rules = (
  parse(readFileSync(join(DIR, 'lockstep-rules.yml'), 'utf8')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);

test('promtool check rules accepts the rules', async () => {
  requireBinary(PROMTOOL_BIN);
  const { stdout } = await run(PROMTOOL_BIN, ['check', 'rules', 'lockstep-rules.yml'], { cwd: DIR });
  assert.match(stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
});

test('promtool test rules: every alert fires when it should and not otherwise', async () => {
  requireBinary(PROMTOOL_BIN);
  const r = await run(PROMTOOL_BIN, ['test', 'rules', 'lockstep-rules.test.yml'], { cwd: DIR }).catch(
    (err: { stdout?: string; stderr?: string }) => {
      throw new Error(`promtool test rules failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    },
  );
  assert.match(r.stdout, /SUCCESS/);
  // Every alert has at least one case in which it fires.
  const tests = readFileSync(join(DIR, 'lockstep-rules.test.yml'), 'utf8');
  const spec = parse(tests) as {
    tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
  };
  const fired = new Set(
    spec.tests.flatMap((t) =>
      t.alert_rule_test.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname),
    ),
  );
  for (const r of rules) if (r.alert) assert.ok(fired.has(r.alert), `${r.alert} has no firing test case`);
});

test('every alert says what it means and what to do', () => {
  const alerts = rules.filter((r) => r.alert);
  assert.ok(alerts.length >= 7);
  for (const a of alerts) {
    assert.ok(a.annotations?.summary, `${a.alert}: no summary`);
    assert.ok((a.annotations?.description ?? '').length > 80, `${a.alert}: no real description`);
  }
  for (const name of [
    'LockstepConsumerLagGrowing',
    'LockstepDeadLetters',
    'LockstepBreakerOpen',
    'LockstepAuthFailures',
    'LockstepWebhookSignatureFailures',
    'LockstepPollerStalled',
    'LockstepConflictsWaiting',
  ])
    assert.ok(
      alerts.some((a) => a.alert === name),
      `missing alert ${name}`,
    );
});

test('the rules use only metrics the services export', () => {
  const exported = exportedMetricNames();
  for (const r of rules)
    for (const name of metricNamesIn(r.expr))
      assert.ok(exported.has(name), `${r.alert}: ${name} is not exported by any service`);
});
