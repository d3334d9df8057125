/**
 * Slack: known to Lockstep by its facts only; the connector (card messages, thread replies) has
 * not landed yet (issue 9, point 5). The sandbox runs its emulator (test/emulators/slack) and the
 * budget and redacted headers are in place; a flow side `platform: slack` is refused by config
 * ("unknown platform") until the connector is registered in `CONNECTORS`.
 */
import { definePlatform } from '../types.ts';

export const slackPlatform = definePlatform({
  platform: 'slack',
  displayName: 'Slack',
  // chat.postMessage: about one message a second per channel.
  rateLimit: { limit: 1, perMs: 1000 },
  secretHeaders: ['x-slack-signature'],
  // What issue 9 plans: a card message per item, comments as thread replies; no connector exercises it yet.
  capabilities: {
    message: ['title', 'status', 'priority', 'assignee', 'url', 'createdAtMs', 'updatedAtMs'],
    comment: ['body', 'author', 'createdAtMs'],
  },
  sandbox: { port: 17104, endpointKey: 'apiUrl' },
});
