import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../core/config/index.ts';
import { boundConnectors, loadAppConfig } from './config.ts';

function file(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'lockstep-config-')), 'lockstep.yaml');
  writeFileSync(f, text);
  return f;
}

describe('lockstep.yaml', () => {
  it('reports every problem of every section at once, each with its path', () => {
    const f = file(
      [
        'kafka: { brokers: [nohostport] }',
        'connectors:',
        '  jira: { host: not-a-url, email: bot@example.com, apiToken: { env: NOPE_UNSET }, webhookSecret: s, projects: [ENG] }',
        'flows:',
        '  - id: eng',
        '    sides: [{ platform: linear, workspace: ENG }, { platform: asana, workspace: A }]',
        'egress: { maxAttempts: 0 }',
      ].join('\n'),
    );
    assert.throws(
      () => loadAppConfig(f, {}),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual([...err.problems].sort(), [
          'connectors.jira.apiToken: environment variable NOPE_UNSET is not set',
          'connectors.jira.host: Invalid URL',
          'egress.maxAttempts: Too small: expected number to be >=1',
          'flows.0.sides.0.platform: connectors.linear is not configured',
          'flows.0.sides.1.platform: unknown platform asana (known: linear, jira)',
          'kafka.brokers.0: must be host:port',
        ]);
        return true;
      },
    );
  });

  it('binds exactly the configured connectors; secrets resolve from the environment and never print', () => {
    const f = file(
      [
        'connectors:',
        '  linear: { apiKey: { env: LIN_KEY }, webhookSecret: { env: LIN_SECRET }, teams: [ENG] }',
        'flows: []',
      ].join('\n'),
    );
    const cfg = loadAppConfig(f, { LIN_KEY: 'lin_api_x', LIN_SECRET: 'whsec' });
    assert.deepEqual([...boundConnectors(cfg).keys()], ['linear']);
    assert.doesNotMatch(JSON.stringify(cfg), /lin_api_x|whsec/);
  });
});
