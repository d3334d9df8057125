/**
 * deploy/grafana/lockstep.json, checked structurally: Grafana cannot be installed on this machine,
 * so the dashboard is not rendered anywhere in the tests. Checked: valid JSON of a dashboard, a
 * Prometheus datasource variable every panel and query uses, unique panel ids and refIds, panels
 * inside the 24-column grid, and every query selects only metrics the services export.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportedMetricNames, metricNamesIn } from '../support/promql.ts';

const FILE = join(import.meta.dirname, '..', '..', 'deploy', 'grafana', 'lockstep.json');

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  templating: { list: { name: string; type: string; query: unknown; datasource?: unknown }[] };
  panels: Panel[];
}

const dash = JSON.parse(readFileSync(FILE, 'utf8')) as Dashboard;
const panels = dash.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = panels.filter((p) => p.type !== 'row');

test('the dashboard has a Prometheus datasource variable that every query uses', () => {
  assert.equal(typeof dash.title, 'string');
  assert.match(dash.uid, /^[a-z0-9-]{1,40}$/);
  assert.ok(dash.schemaVersion >= 30);
  const ds = dash.templating.list.find((v) => v.type === 'datasource');
  assert.ok(ds, 'no datasource variable');
  assert.equal(ds.query, 'prometheus');
  const ref = { type: 'prometheus', uid: `\${${ds.name}}` };
  for (const v of dash.templating.list.filter((x) => x.type === 'query'))
    assert.deepEqual(v.datasource, ref, `variable ${v.name}`);
  assert.ok(queryPanels.length >= 10);
  for (const p of queryPanels) {
    assert.deepEqual(p.datasource, ref, `panel ${p.title}`);
    assert.ok(p.targets?.length, `panel ${p.title} has no query`);
    for (const t of p.targets) assert.deepEqual(t.datasource, ref, `panel ${p.title} ${t.refId}`);
  }
});

test('panel ids and refIds are unique and panels fit the grid', () => {
  const ids = panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'duplicate panel id');
  for (const p of panels) {
    assert.ok(
      p.gridPos.x >= 0 && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24,
      `panel ${p.title} grid`,
    );
    const refs = (p.targets ?? []).map((t) => t.refId);
    assert.equal(new Set(refs).size, refs.length, `panel ${p.title}: duplicate refId`);
  }
});

test('every query uses only metrics the services export, and the operator metrics are all shown', () => {
  const exported = exportedMetricNames();
  const used = new Set<string>();
  const exprs = [
    ...queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
    ...dash.templating.list
      .filter((v) => v.type === 'query')
      .map((v) => ({ where: `variable ${v.name}`, expr: (v.query as { query: string }).query })),
  ];
  for (const { where, expr } of exprs) {
    const names = metricNamesIn(expr.replace(/label_values\(([^,]+),[^)]*\)/, '$1'));
    assert.ok(names.length > 0, `${where}: no metric in ${expr}`);
    for (const n of names) {
      assert.ok(exported.has(n), `${where}: ${n} is not exported by any service`);
      used.add(n);
    }
  }
  for (const n of [
    'lockstep_consumer_lag',
    'lockstep_sync_latency_seconds_bucket',
    'lockstep_egress_commands_total',
    'lockstep_egress_api_calls_total',
    'lockstep_egress_breaker_open',
    'lockstep_reconciler_conflicts_open',
    'lockstep_dead_letters_total',
    'lockstep_ingest_webhooks_total',
    'lockstep_ingest_last_successful_poll_timestamp_seconds',
  ])
    assert.ok(used.has(n), `no panel shows ${n}`);
});
