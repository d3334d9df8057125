import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret } from '../core/config/index.ts';
import { loadAppConfig } from '../app/config.ts';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearerOf, createSessions, parseCookies, sameOrigin, tokenMatches } from './auth.ts';
import { html } from './html.ts';

// Not named `html` here: prettier would reformat the templates (it formats html`…` as HTML).
const h = html;
import { parseMetrics } from './status.ts';
import { traceIdOf, waterfall, type JaegerTrace } from './trace.ts';

describe('status page: html', () => {
  it('escapes every interpolation, nested fragments pass as built', () => {
    const evil = `<script>alert("x")</script>&'`;
    const inner = [h`<b>${evil}</b>`];
    const out = h`<td title="${evil}">${evil}</td>${inner}`.value;
    assert.equal(
      out,
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</td><b>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</b>',
    );
    assert.equal(h`${null}${undefined}${false}${0}`.value, '0');
  });
});

describe('status page: auth', () => {
  const token = new Secret('s3cret-admin-token-xyz');
  it('compares the token exactly', () => {
    assert.equal(tokenMatches(token, 's3cret-admin-token-xyz'), true);
    assert.equal(tokenMatches(token, 's3cret-admin-token-xy'), false);
    assert.equal(tokenMatches(token, ''), false);
    assert.equal(tokenMatches(token, undefined), false);
    assert.equal(tokenMatches(undefined, 'anything'), false);
  });
  it('parses cookies and bearer headers', () => {
    assert.deepEqual(parseCookies('a=1; lockstep_admin_session=abc%3D; bad'), {
      a: '1',
      lockstep_admin_session: 'abc=',
    });
    assert.equal(bearerOf('Bearer abc'), 'abc');
    assert.equal(bearerOf('Basic abc'), undefined);
  });
  it('same origin: no Origin header, or the request’s own host', () => {
    assert.equal(sameOrigin(undefined, '127.0.0.1:7080'), true);
    assert.equal(sameOrigin('http://127.0.0.1:7080', '127.0.0.1:7080'), true);
    assert.equal(sameOrigin('http://evil.example', '127.0.0.1:7080'), false);
    assert.equal(sameOrigin('null', '127.0.0.1:7080'), false);
  });
  it('sessions expire, and a CSRF token must match its session', () => {
    let now = 1000;
    const sessions = createSessions(60_000, () => now);
    const s = sessions.create();
    assert.equal(sessions.get(s.id), s);
    assert.equal(sessions.csrfOk(s, s.csrf), true);
    assert.equal(sessions.csrfOk(s, `${s.csrf}x`), false);
    assert.equal(sessions.csrfOk(s, undefined), false);
    now += 60_000;
    assert.equal(sessions.get(s.id), null);
  });
});

describe('status page: config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-admin-'));
  it('defaults to loopback, read-only; a token comes by env reference and never prints', () => {
    const file = join(dir, 'a.yaml');
    writeFileSync(file, 'admin:\n  token: { env: ADMIN_TOKEN }\n');
    const d = join(dir, 'd.yaml');
    writeFileSync(d, '{}\n');
    assert.equal(loadAppConfig(d, {}).admin.token, undefined);
    const c = loadAppConfig(file, { ADMIN_TOKEN: 'a-long-enough-admin-token' });
    assert.equal(c.admin.host, '127.0.0.1');
    assert.equal(c.admin.token?.reveal(), 'a-long-enough-admin-token');
    assert.ok(!JSON.stringify(c).includes('a-long-enough-admin-token'));
  });
  it('reports a short token and an unset variable with their paths', () => {
    const file = join(dir, 'b.yaml');
    writeFileSync(file, 'admin:\n  token: short\n  port: 99999\n');
    assert.throws(
      () => loadAppConfig(file, {}),
      /admin\.port: [\s\S]*admin\.token: must be at least 16 characters/,
    );
    writeFileSync(file, 'admin:\n  token: { env: NOPE }\n');
    assert.throws(() => loadAppConfig(file, {}), /admin\.token: environment variable NOPE is not set/);
  });
});

describe('status page: metrics and traces', () => {
  it('reads samples from the Prometheus text format', () => {
    const text = [
      '# HELP lockstep_consumer_lag lag',
      '# TYPE lockstep_consumer_lag gauge',
      'lockstep_consumer_lag{group="g",topic="t",partition="0",service="egress-jira"} 3',
      'lockstep_consumer_lag{group="g",topic="t",partition="1",service="egress-jira"} 4',
      'lockstep_egress_breaker_open{platform="jira"} 0',
      'up 1',
    ].join('\n');
    const s = parseMetrics(text);
    assert.equal(s.length, 4);
    assert.deepEqual(s[0], {
      name: 'lockstep_consumer_lag',
      labels: { group: 'g', topic: 't', partition: '0', service: 'egress-jira' },
      value: 3,
    });
    assert.deepEqual(s[3], { name: 'up', labels: {}, value: 1 });
  });

  it('takes the trace id from a traceparent', () => {
    assert.equal(
      traceIdOf('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
    assert.equal(traceIdOf('00-00000000000000000000000000000000-00f067aa0ba902b7-01'), null);
    assert.equal(traceIdOf('garbage'), null);
    assert.equal(traceIdOf(undefined), null);
  });

  it('lays spans out in tree order with offsets and bar positions', () => {
    const t: JaegerTrace = {
      traceID: 'abc',
      processes: { p1: { serviceName: 'lockstep-ingest' }, p2: { serviceName: 'lockstep-egress-jira' } },
      spans: [
        {
          traceID: 'abc',
          spanID: 'c',
          operationName: 'apply jira',
          references: [{ refType: 'CHILD_OF', traceID: 'abc', spanID: 'a' }],
          startTime: 1_000_500,
          duration: 500,
          processID: 'p2',
          tags: [{ key: 'error', value: true }],
        },
        {
          traceID: 'abc',
          spanID: 'a',
          operationName: 'POST',
          startTime: 1_000_000,
          duration: 1000,
          processID: 'p1',
        },
        {
          traceID: 'abc',
          spanID: 'b',
          operationName: 'send changes',
          references: [{ refType: 'CHILD_OF', traceID: 'abc', spanID: 'a' }],
          startTime: 1_000_100,
          duration: 100,
          processID: 'p1',
          tags: [{ key: 'span.kind', value: 'producer' }],
        },
      ],
    };
    const w = waterfall(t);
    assert.equal(w.totalMs, 1);
    assert.deepEqual(w.services, ['lockstep-egress-jira', 'lockstep-ingest']);
    assert.deepEqual(
      w.rows.map((r) => [r.spanId, r.depth, r.offsetMs, r.leftPct, r.widthPct, r.kind, r.error]),
      [
        ['a', 0, 0, 0, 100, null, false],
        ['b', 1, 0.1, 10, 10, 'producer', false],
        ['c', 1, 0.5, 50, 50, null, true],
      ],
    );
  });
});
