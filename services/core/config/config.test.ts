import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { test } from 'node:test';
import { z } from 'zod';
import { ConfigError, defineConfigSchema, loadConfig, Secret, secret } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'lockstep-config-'));
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}
function file(text: string): string {
  const p = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(p, text);
  return p;
}

test('an empty file yields the documented defaults', () => {
  const c = loadConfig(file(''), {});
  assert.equal(c.kafka.topics.changes, 'lockstep.changes.v1');
  assert.equal(c.kafka.topics.commandsPrefix, 'lockstep.commands.');
  assert.equal(c.kafka.retentionMs.changes, 7 * 86_400_000);
  assert.ok(c.kafka.retentionMs.dlq > c.kafka.retentionMs.changes);
  assert.equal(c.logLevel, 'info');
  assert.match(c.registry.url, /\/apis\/ccompat\/v7$/);
});

test('no file and no LOCKSTEP_CONFIG means defaults', () => {
  assert.equal(loadConfig(undefined, {}).kafka.clientId, 'lockstep');
});

test('every problem is reported at once, each with its path', () => {
  const p = file(
    [
      'kafka:',
      '  brokers: ["nohost", "ok:9092"]',
      '  retentionMs: { changes: 1000 }',
      'http: { port: 99999 }',
      'logLevel: loud',
      'bogus: 1',
    ].join('\n'),
  );
  const err = configError(() => loadConfig(p, {}));
  const joined = err.problems.join('\n');
  assert.match(joined, /^kafka\.brokers\.0: must be host:port/m);
  assert.match(joined, /^kafka\.retentionMs\.changes: must be at least 7 days/m);
  assert.match(joined, /^http\.port: /m);
  assert.match(joined, /^logLevel: /m);
  assert.match(joined, /bogus/);
  assert.ok(err.problems.length >= 5, joined);
  assert.match(err.message, /^loading configuration .*: \d+ problem/);
});

test('dlq must outlive changes', () => {
  const p = file('kafka: { retentionMs: { changes: 864000000, dlq: 864000000 } }');
  assert.throws(() => loadConfig(p, {}), /kafka\.retentionMs\.dlq: dlq must be kept longer than changes/);
});

test('documented env overrides apply, and a bad one is reported with its config path', () => {
  const c = loadConfig(file('kafka: { brokers: ["a:1"] }'), {
    LOCKSTEP_KAFKA_BROKERS: 'b:2, c:3',
    LOCKSTEP_HTTP_PORT: '9100',
    LOCKSTEP_TELEMETRY_ENABLED: 'false',
  });
  assert.deepEqual(c.kafka.brokers, ['b:2', 'c:3']);
  assert.equal(c.http.port, 9100);
  assert.equal(c.telemetry.enabled, false);
  assert.throws(() => loadConfig(file(''), { LOCKSTEP_HTTP_PORT: 'eighty' }), /http\.port: /);
});

test('LOCKSTEP_CONFIG names the file when none is given', () => {
  const c = loadConfig(undefined, { LOCKSTEP_CONFIG: file('logLevel: debug') });
  assert.equal(c.logLevel, 'debug');
});

test('an explicitly named missing file and bad YAML are ConfigErrors', () => {
  assert.throws(() => loadConfig(join(dir, 'nope.yaml'), {}), ConfigError);
  assert.throws(() => loadConfig(file('kafka: [unclosed'), {}), /\(yaml\)/);
});

test('the root schema is extensible and secrets resolve by reference and never print', () => {
  const schema = defineConfigSchema({
    connectors: z.object({ jira: z.object({ token: secret(), other: secret() }).strict() }).strict(),
  });
  const p = file('connectors: { jira: { token: { env: JIRA_TOKEN }, other: literal-value } }');
  const c = loadConfig(p, { JIRA_TOKEN: 's3cr3t' }, schema);
  assert.ok(c.connectors.jira.token instanceof Secret);
  assert.equal(c.connectors.jira.token.reveal(), 's3cr3t');
  assert.equal(c.connectors.jira.other.reveal(), 'literal-value');
  const printed = [
    String(c.connectors.jira.token),
    JSON.stringify(c),
    inspect(c, { depth: 10 }),
    `${c.connectors.jira.token}`,
  ];
  for (const s of printed) assert.ok(!s.includes('s3cr3t') && !s.includes('literal-value'), s);
  assert.match(JSON.stringify(c), /\[redacted\]/);
  assert.equal(c.kafka.topics.changes, 'lockstep.changes.v1'); // core defaults still apply

  const err = configError(() => loadConfig(p, {}, schema));
  assert.deepEqual(err.problems, ['connectors.jira.token: environment variable JIRA_TOKEN is not set']);
});
