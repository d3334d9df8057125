/**
 * Metric names for the checks of deploy/prometheus and deploy/grafana: the names the services
 * declare (read from their source), and the names a PromQL expression uses.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const REPO = join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/**
 * Every series name the services can export: each `new Counter|Gauge|Histogram({ name: 'lockstep_…' })`
 * in services/ (a histogram adds _bucket, _sum and _count), plus Prometheus's own `up`.
 */
export function exportedMetricNames(): Set<string> {
  const names = new Set<string>(['up']);
  for (const file of sources(join(REPO, 'services'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /new (Counter|Gauge|Histogram|Summary)\(\{\s*name: '([a-z_:][a-z0-9_:]*)'/g,
    )) {
      const kind = m[1] ?? '';
      const name = m[2] ?? '';
      names.add(name);
      if (kind === 'Histogram' || kind === 'Summary') for (const s of ['_sum', '_count']) names.add(name + s);
      if (kind === 'Histogram') names.add(`${name}_bucket`);
    }
  }
  return names;
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'offset',
  'bool',
  'inf',
  'nan',
]);

/** The metric names an expression selects (functions, keywords, labels and strings removed). */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+|\$\{[^}]*\}/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const id = m[1] ?? '';
    if (m[2] || KEYWORDS.has(id.toLowerCase())) continue;
    names.add(id);
  }
  return [...names];
}
