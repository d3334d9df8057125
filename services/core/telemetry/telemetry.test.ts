import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { tracing } from '@opentelemetry/sdk-node';
import { createLogger } from '../logging/index.ts';
import { activeTraceId, startTelemetry, traceHeadersOf, withSpan, withTraceHeaders } from './index.ts';

const exporter = new tracing.InMemorySpanExporter();
const telemetry = startTelemetry(
  { enabled: true, serviceName: 'unit', otlpHttpEndpoint: 'http://127.0.0.1:1/v1/traces' },
  { spanExporter: exporter },
);

test('withSpan names, nests, records errors and rethrows them unchanged', async () => {
  const boom = new TypeError('bad');
  await withSpan('apply jira', async () => {
    await assert.rejects(
      withSpan('call jira', () => {
        throw boom;
      }),
      (e) => e === boom,
    );
  });
  const spans = exporter.getFinishedSpans();
  const outer = spans.find((s) => s.name === 'apply jira');
  const inner = spans.find((s) => s.name === 'call jira');
  assert.ok(outer && inner);
  assert.equal(inner.spanContext().traceId, outer.spanContext().traceId);
  assert.equal(inner.parentSpanContext?.spanId, outer.spanContext().spanId);
  assert.equal(inner.status.code, 2); // ERROR
  assert.equal(inner.events[0]?.name, 'exception');
});

test('log lines carry the active trace id', async () => {
  const lines: string[] = [];
  const logger = createLogger({ destination: { write: (s: string) => void lines.push(s) } });
  let traceId: string | undefined;
  await withSpan('work unit', () => {
    traceId = activeTraceId();
    logger.info('inside');
  });
  logger.info('outside');
  assert.match(traceId ?? '', /^[0-9a-f]{32}$/);
  assert.equal(JSON.parse(lines[0]!).traceId, traceId);
  assert.equal(JSON.parse(lines[1]!).traceId, undefined);
  assert.equal(trace.getActiveSpan(), undefined);
});

test('trace headers carry a parent across a hop; bad or missing headers just mean no parent', async () => {
  let headers: Record<string, string> | null = null;
  await withSpan('decide change', () => {
    headers = traceHeadersOf();
  });
  assert.match(headers!['traceparent'] ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.deepEqual(traceHeadersOf({ ...headers!, other: 'x' }), headers);
  await withTraceHeaders(headers, () => withSpan('publish command', () => {}));
  for (const bad of [null, undefined, {}, { traceparent: 'garbage' }, { traceparent: 42 }]) {
    assert.equal(traceHeadersOf(bad as never), null);
    assert.equal(await withTraceHeaders(bad as never, () => withSpan('orphan op', () => 7)), 7);
  }
  const spans = exporter.getFinishedSpans();
  const parent = spans.find((s) => s.name === 'decide change')!;
  const child = spans.find((s) => s.name === 'publish command')!;
  assert.equal(child.spanContext().traceId, parent.spanContext().traceId);
  assert.equal(child.parentSpanContext?.spanId, parent.spanContext().spanId);
  for (const orphan of spans.filter((s) => s.name === 'orphan op'))
    assert.equal(orphan.parentSpanContext, undefined);
});

test('an unreachable OTLP endpoint does not throw into the caller', () => {
  // Separate process: the SDK is global per process. Port 1 refuses connections.
  const out = execFileSync(
    process.execPath,
    [
      '--import',
      join(import.meta.dirname, 'preload.ts'),
      '--input-type=module',
      '-e',
      "const { withSpan } = await import('" +
        join(import.meta.dirname, 'index.ts') +
        "'); console.log(await withSpan('op target', () => 42));",
    ],
    {
      env: { PATH: process.env.PATH, LOCKSTEP_OTLP_HTTP_ENDPOINT: 'http://127.0.0.1:1/v1/traces' },
      encoding: 'utf8',
      // An upper bound, not a duration: the child loads the OTel SDK (7 s measured on a 2-core
      // machine at load 25, well under 1 s idle) and then spends up to the exporter's bounded 5 s
      // flush retrying the refused endpoint before it exits. 20 s failed a loaded run.
      timeout: 60_000,
    },
  );
  assert.equal(out.trim(), '42');
});

test('the preload patches kafkajs and pg under ESM; without it they stay unpatched', () => {
  const fixture = join(import.meta.dirname, 'fixtures', 'patched.ts');
  const env = { PATH: process.env.PATH, LOCKSTEP_OTLP_HTTP_ENDPOINT: 'http://127.0.0.1:1/v1/traces' };
  const withPreload = execFileSync(
    process.execPath,
    ['--import', join(import.meta.dirname, 'preload.ts'), fixture],
    { env, encoding: 'utf8' },
  );
  assert.deepEqual(JSON.parse(withPreload), { kafkajsWrapped: true, pgWrapped: true });
  const without = execFileSync(process.execPath, [fixture], { env, encoding: 'utf8' });
  assert.deepEqual(JSON.parse(without), { kafkajsWrapped: false, pgWrapped: false });
});

test.after(() => telemetry.shutdown());
