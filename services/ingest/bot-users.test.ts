/**
 * The bot-user lookup against the Jira emulator (test infrastructure — not Jira), through the
 * connector's own client: a lookup that fails at start is retried, not kept null.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jiraConnector } from '../connectors/jira/index.ts';
import { createLogger } from '../core/logging/index.ts';
import { DEMO_BOT_TOKEN, demoSeed, startJiraEmulator } from '../../test/emulators/jira/index.ts';
import type { RunningEmulator } from '../../test/emulators/common/server.ts';
import { resolveBotUserIds } from './bot-users.ts';

let emu: RunningEmulator;
before(async () => {
  emu = await startJiraEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
});
after(() => emu.close());

test('a bot-user lookup that fails at start is retried until it succeeds', async () => {
  const jira = jiraConnector.bind(
    jiraConnector.configSchema.parse({
      host: emu.url,
      email: 'lockstep-bot@example.com',
      apiToken: DEMO_BOT_TOKEN,
      webhookSecret: 'unused-here',
      projects: ['ENG'],
    }),
  );
  // Jira answers /myself with 503 three times (jira.js does not retry them itself).
  emu.faults.add({
    kind: 'server_error',
    status: 503,
    count: 3,
    match: { pathPrefix: '/rest/api/3/myself' },
  });
  const abort = new AbortController();
  try {
    const ids = await resolveBotUserIds(
      new Map([['jira', jira]]),
      createLogger({ level: 'silent' }),
      abort.signal,
      {
        baseMs: 20,
        maxMs: 100,
      },
    );
    assert.equal(ids.get('jira'), null, 'the first lookup was answered 503');
    const bot = emu.kit.actors.all().find((u) => u.isBot)!;
    const deadline = Date.now() + 30_000;
    while (ids.get('jira') !== bot.id) {
      assert.ok(Date.now() < deadline, 'the failed lookup was not retried to success within 30 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    abort.abort();
  }
});
