import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebClient } from '@slack/web-api';
import { startSandbox } from './sandbox.ts';
import { DEMO_TOKENS } from './slack/index.ts';

test('the sandbox starts the four emulators with demo data and closes them', async () => {
  const sb = await startSandbox({ ports: { linear: 0, jira: 0, asana: 0, slack: 0 } });
  try {
    assert.match(sb.endpoints.linear.apiUrl, /^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
    assert.match(sb.endpoints.asana.baseUrl, /^http:\/\/127\.0\.0\.1:\d+\/api\/1\.0$/);
    for (const root of Object.values(sb.roots)) {
      const res = await fetch(`${root}/_emulator/ledger`);
      assert.equal(res.status, 200);
    }
    const slack = new WebClient(DEMO_TOKENS.bot, {
      slackApiUrl: sb.endpoints.slack.apiUrl,
      retryConfig: { retries: 0 },
    });
    const history = await slack.conversations.history({ channel: 'C0SANDBOX1' });
    assert.equal(history.messages?.length, 2);
    const people = ['alice@example.com', 'bob@example.com', 'carol@example.com'];
    for (const email of people) assert.equal((await slack.users.lookupByEmail({ email })).ok, true);
  } finally {
    await sb.close();
  }
  await assert.rejects(fetch(`${sb.roots.slack}/_emulator/ledger`));
});
