import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { testStackEndpoints } from '../stack/env.ts';
import { testConfig } from './core-helpers.ts';

const root = join(import.meta.dirname, '..', '..');

interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; spanID: string }[];
  tags: { key: string; value: unknown }[];
}

test('the producer span and the consumer span share one trace across the Kafka hop (read back from Jaeger)', async () => {
  const config = testConfig();
  const service = config.telemetry.serviceName;
  const file = join(mkdtempSync(join(tmpdir(), 'lockstep-trace-')), 'lockstep.yaml');
  writeFileSync(file, stringify(config));

  // A child process, because the loader hook must be registered before kafkajs is imported.
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      join(root, 'services/core/telemetry/preload.ts'),
      join(import.meta.dirname, 'fixtures/trace-hop.ts'),
    ],
    { env: { PATH: process.env.PATH, LOCKSTEP_CONFIG: file }, timeout: 90_000 },
  );
  const out = JSON.parse(stdout.trim().split('\n').pop()!) as {
    producerTraceId?: string;
    consumerTraceId?: string;
    telemetryEnabled: boolean;
  };
  assert.equal(out.telemetryEnabled, true);
  assert.match(out.producerTraceId ?? '', /^[0-9a-f]{32}$/);
  assert.equal(out.consumerTraceId, out.producerTraceId);

  // Jaeger indexes asynchronously: poll its query API for a while.
  const jaeger = testStackEndpoints().jaeger.url.replace(/\/+$/, '');
  let spans: JaegerSpan[] = [];
  for (let i = 0; i < 30 && !spans.some(isConsumer); i++) {
    const res = await fetch(`${jaeger}/api/traces/${out.producerTraceId}`);
    if (res.ok)
      spans = ((await res.json()) as { data: { spans: JaegerSpan[] }[] }).data.flatMap((t) => t.spans);
    if (!spans.some(isConsumer)) await new Promise((r) => setTimeout(r, 1000));
  }
  const producer = spans.find((s) => kind(s) === 'producer');
  const consumer = spans.find(isConsumer);
  assert.ok(producer, `no producer span in ${JSON.stringify(spans.map((s) => s.operationName))}`);
  assert.ok(consumer, `no consumer span in ${JSON.stringify(spans.map((s) => s.operationName))}`);
  assert.equal(consumer.traceID, producer.traceID);
  assert.ok(spans.some((s) => s.operationName === `publish ${config.kafka.topics.changes}`));
  // The trace is listed under the service name from config.
  const byService = (await (
    await fetch(`${jaeger}/api/traces?service=${encodeURIComponent(service)}&limit=20`)
  ).json()) as { data: { traceID: string }[] };
  assert.ok(byService.data.some((t) => t.traceID === out.producerTraceId));
});

function kind(s: JaegerSpan): unknown {
  return s.tags.find((t) => t.key === 'span.kind')?.value;
}
function isConsumer(s: JaegerSpan): boolean {
  return kind(s) === 'consumer';
}
