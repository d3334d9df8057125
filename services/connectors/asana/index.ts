/**
 * Asana: known to Lockstep by its facts only; the connector (verify, normalize, poll, apply) has not
 * landed yet (issue 9, point 4). The sandbox runs its emulator (test/emulators/asana) and the
 * budget and redacted headers are in place; a flow side `platform: asana` is refused by config
 * ("unknown platform") until the connector is registered in `CONNECTORS`.
 */
import { definePlatform } from '../types.ts';

export const asanaPlatform = definePlatform({
  platform: 'asana',
  displayName: 'Asana',
  // 1,500 requests a minute on paid plans (150 on the free plan: override in egress.rateLimits).
  rateLimit: { limit: 1500, perMs: 60_000 },
  // X-Hook-Secret is the secret itself during the webhook handshake.
  secretHeaders: ['x-hook-signature', 'x-hook-secret'],
  // What issue 9 plans for a task and its comment stories; no connector exercises it yet.
  capabilities: {
    issue: [
      'title',
      'description',
      'status',
      'priority',
      'assignee',
      'labels',
      'dueDate',
      'url',
      'createdAtMs',
      'updatedAtMs',
    ],
    comment: ['body', 'author', 'createdAtMs'],
  },
  sandbox: { port: 17103, endpointKey: 'baseUrl' },
});
