import { SECRET_HEADERS } from '../../connectors/registry.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Secret } from '../config/index.ts';
import { createLogger } from './index.ts';

test('secrets never reach a log line', () => {
  const lines: string[] = [];
  const logger = createLogger({
    secretHeaders: SECRET_HEADERS,
    destination: { write: (s: string) => void lines.push(s) },
  });
  logger.info(
    {
      req: { headers: { authorization: 'Bearer AAA', 'x-slack-signature': 'v0=BBB', accept: 'json' } },
      token: 'CCC',
      connector: { apiToken: 'DDD', name: 'jira' },
      creds: { jira: { clientSecret: 'EEE' } },
      wrapped: new Secret('FFF'),
    },
    'request',
  );
  const line = lines.join('');
  for (const s of ['AAA', 'BBB', 'CCC', 'DDD', 'EEE', 'FFF'])
    assert.ok(!line.includes(s), `${s} leaked: ${line}`);
  const parsed = JSON.parse(line);
  assert.equal(parsed.req.headers.accept, 'json');
  assert.equal(parsed.connector.name, 'jira');
  assert.equal(parsed.req.headers.authorization, '[redacted]');
  assert.equal(parsed.level, 'info');
  assert.equal(parsed.msg, 'request');
});
