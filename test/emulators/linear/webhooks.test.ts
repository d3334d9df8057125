/**
 * Webhooks from the Linear emulator: payloads, headers, attribution, retries and delivery faults.
 * Signatures are checked by an independent HMAC-SHA256 of the raw received body (Linear's
 * documented algorithm) and, as an extra check, by the SDK's own LinearWebhookClient.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { LinearClient } from '@linear/sdk';
import { LinearWebhookClient } from '@linear/sdk/webhooks';
import type { EmulatorControl } from '../common/control-client.ts';
import { demoSeed } from './index.ts';
import { startDemo, startReceiver, type Emu, type Received } from './harness.ts';

const SECRET = 'whsec-linear-test-1';

/** Linear's documented check: hex HMAC-SHA256 of the raw body with the signing secret. */
function signatureValid(raw: Buffer, header: string | string[] | undefined, secret: string): boolean {
  if (typeof header !== 'string' || !/^[0-9a-f]{64}$/.test(header)) return false;
  const expected = createHmac('sha256', secret).update(raw).digest();
  return timingSafeEqual(expected, Buffer.from(header, 'hex'));
}

let emu: Emu;
let control: EmulatorControl;
let client: (who: string) => LinearClient;
let bot: LinearClient;
let alice: LinearClient;
let teamId: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

before(async () => {
  ({ emu, control, client } = await startDemo({ webhookTimeScale: 0.0001 }));
});
after(() => emu.close());

beforeEach(async () => {
  await control.reset();
  await control.seed(demoSeed());
  await control.settings({ webhookTimeScale: 0.0001 });
  bot = client('bot');
  alice = client('alice');
  teamId = (await bot.teams()).nodes[0]!.id;
});

async function register(
  respond?: (n: number) => number,
  resourceTypes = ['Issue', 'Comment'],
): Promise<string> {
  receiver = await startReceiver(respond);
  const made = await bot.createWebhook({
    url: receiver.url,
    teamId,
    resourceTypes,
    secret: SECRET,
    label: 'Lockstep',
  });
  return (await made.webhook)!.id;
}

describe('Linear emulator webhooks', () => {
  it('signs, labels and attributes an issue created with the bot token', async () => {
    const webhookId = await register();
    try {
      const created = await bot.createIssue({ teamId, title: 'From Lockstep', priority: 3 });
      const issue = (await created.issue)!;
      const [d] = await receiver.waitFor(1);
      const h = d!.headers;
      assert.ok(signatureValid(d!.raw, h['linear-signature'], SECRET), 'independent HMAC check');
      assert.equal(signatureValid(d!.raw, h['linear-signature'], 'wrong-secret'), false);
      assert.equal(new LinearWebhookClient(SECRET).verify(d!.raw, h['linear-signature'] as string), true);
      assert.match(
        String(h['linear-delivery']),
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      assert.equal(h['linear-event'], 'Issue');
      assert.equal(h['user-agent'], 'Linear-Webhook');
      assert.equal(h['content-type'], 'application/json');

      const b = d!.body;
      assert.equal(b.action, 'create');
      assert.equal(b.type, 'Issue');
      assert.equal(b.webhookId, webhookId);
      assert.equal(typeof b.organizationId, 'string');
      assert.ok(Math.abs(Date.now() - (b.webhookTimestamp as number)) < 5000);
      assert.equal('updatedFrom' in b, false);
      const me = await bot.viewer;
      assert.deepEqual(b.actor, {
        id: me.id,
        name: 'Lockstep Bot',
        email: 'lockstep-bot@example.com',
        type: 'user',
      });
      const data = b.data as Record<string, unknown>;
      assert.equal(data.id, issue.id);
      assert.equal(data.identifier, issue.identifier);
      assert.equal(data.title, 'From Lockstep');
      assert.equal(data.priority, 3);
      assert.equal(data.priorityLabel, 'Medium');
      assert.equal(data.teamId, teamId);
      assert.deepEqual((data.state as Record<string, unknown>).type, 'backlog');
      assert.equal(data.stateId, (data.state as Record<string, unknown>).id);
      assert.equal(data.updatedAt, issue.updatedAt.toISOString());
      assert.equal(b.url, issue.url);
    } finally {
      await emu.kit.webhooks.idle();
      await receiver.close();
    }
  });

  it("attributes a person's update to that person, with updatedFrom holding the previous values", async () => {
    await register();
    try {
      const before = await bot.issue('ENG-1');
      const done = (await bot.workflowStates({ filter: { name: { eq: 'Done' } } })).nodes[0]!;
      await alice.updateIssue('ENG-1', { title: 'Login times out', stateId: done.id });
      const [d] = await receiver.waitFor(1);
      assert.ok(signatureValid(d!.raw, d!.headers['linear-signature'], SECRET));
      const b = d!.body;
      assert.equal(b.action, 'update');
      assert.equal((b.actor as Record<string, unknown>).email, 'alice@example.com');
      const from = b.updatedFrom as Record<string, unknown>;
      assert.equal(from.title, 'Login page times out on slow networks');
      assert.equal(from.stateId, (await before.state)!.id);
      assert.equal(from.completedAt, null);
      assert.equal(from.updatedAt, before.updatedAt.toISOString());
      assert.equal('priority' in from, false);
      const data = b.data as Record<string, unknown>;
      assert.equal(data.title, 'Login times out');
      assert.deepEqual(data.state, { id: done.id, name: 'Done', type: 'completed', color: '#5e6ad2' });
      assert.ok(data.completedAt);
    } finally {
      await emu.kit.webhooks.idle();
      await receiver.close();
    }
  });

  it('sends Comment create, update and remove with the author as actor', async () => {
    await register();
    try {
      const made = await alice.createComment({ issueId: 'ENG-1', body: 'hello' });
      const comment = (await made.comment)!;
      await alice.updateComment(comment.id, { body: 'hello, edited' });
      await alice.deleteComment(comment.id);
      const ds = await receiver.waitFor(3);
      assert.deepEqual(
        ds.map((d) => [d.headers['linear-event'], d.body.action]),
        [
          ['Comment', 'create'],
          ['Comment', 'update'],
          ['Comment', 'remove'],
        ],
      );
      for (const d of ds) {
        assert.ok(signatureValid(d.raw, d.headers['linear-signature'], SECRET));
        assert.equal((d.body.actor as Record<string, unknown>).email, 'alice@example.com');
      }
      const created = ds[0]!.body.data as Record<string, unknown>;
      assert.equal(created.body, 'hello');
      assert.equal(created.issueId, (await bot.issue('ENG-1')).id);
      assert.equal(created.userId, (await alice.viewer).id);
      assert.equal(created.editedAt, null);
      const updated = ds[1]!.body;
      assert.equal((updated.updatedFrom as Record<string, unknown>).body, 'hello');
      assert.ok((updated.data as Record<string, unknown>).editedAt);
      // Only the three comment events: the webhook is scoped to Issue and Comment and nothing else changed.
      assert.equal(new Set(ds.map((d) => d.headers['linear-delivery'])).size, 3);
    } finally {
      await emu.kit.webhooks.idle();
      await receiver.close();
    }
  });

  it('only delivers the resource types and team a webhook subscribed to', async () => {
    await register(undefined, ['Comment']);
    try {
      await bot.updateIssue('ENG-1', { priority: 1 });
      await control.seed({
        teams: [{ key: 'OPS', name: 'Operations' }],
        issues: [{ teamKey: 'OPS', title: 'ops thing' }],
      });
      await bot.createComment({ issueId: 'OPS-1', body: 'other team' });
      await bot.createComment({ issueId: 'ENG-1', body: 'this team' });
      const [d] = await receiver.waitFor(1);
      await emu.kit.webhooks.idle();
      assert.equal(receiver.received.length, 1);
      assert.equal((d!.body.data as Record<string, unknown>).body, 'this team');
    } finally {
      await receiver.close();
    }
  });

  it("retries a failed delivery on Linear's schedule (compressed), re-signed, same delivery id", async () => {
    // Fail the first two attempts, accept the third.
    await register((n) => (n <= 2 ? 500 : 200));
    try {
      await bot.updateIssue('ENG-1', { priority: 4 });
      const ds = await receiver.waitFor(3, 10_000);
      await emu.kit.webhooks.idle();
      assert.equal(receiver.received.length, 3);
      assert.equal(new Set(ds.map((d) => d.headers['linear-delivery'])).size, 1);
      for (const d of ds) assert.ok(signatureValid(d.raw, d.headers['linear-signature'], SECRET));
      const log = await control.deliveries();
      assert.deepEqual(
        log.map((r) => [r.attempt, r.outcome, r.status]),
        [
          [0, 'failed', 500],
          [1, 'failed', 500],
          [2, 'delivered', 200],
        ],
      );
      // 1 min then 1 h, scaled by 0.0001: ≥ 6 ms and ≥ 360 ms apart.
      assert.ok(log[1]!.atMs - log[0]!.atMs >= 5);
      assert.ok(log[2]!.atMs - log[1]!.atMs >= 350);
    } finally {
      await receiver.close();
    }
  });

  it('gives up after the first try plus 3 retries', async () => {
    await register(() => 503);
    try {
      await control.settings({ webhookTimeScale: 0.00001 });
      await bot.updateIssue('ENG-1', { priority: 4 });
      await receiver.waitFor(4, 10_000);
      await emu.kit.webhooks.idle();
      assert.equal(receiver.received.length, 4);
      assert.deepEqual(
        (await control.deliveries()).map((r) => r.attempt),
        [0, 1, 2, 3],
      );
    } finally {
      await receiver.close();
    }
  });

  it('drops, duplicates and reorders deliveries when told to', async () => {
    await register();
    try {
      await control.fault({ kind: 'webhook_drop', count: 1 });
      await bot.updateIssue('ENG-1', { title: 'dropped' });
      await control.fault({ kind: 'webhook_duplicate', count: 1 });
      await bot.updateIssue('ENG-1', { title: 'twice' });
      await emu.kit.webhooks.idle();
      assert.deepEqual(
        receiver.received.map((d) => (d.body.data as Record<string, unknown>).title),
        ['twice', 'twice'],
      );
      assert.equal(
        receiver.received[0]!.headers['linear-delivery'],
        receiver.received[1]!.headers['linear-delivery'],
      );

      receiver.received.length = 0;
      await control.fault({ kind: 'webhook_reorder', count: 2 });
      await bot.updateIssue('ENG-1', { title: 'first' });
      await bot.updateIssue('ENG-1', { title: 'second' });
      await receiver.waitFor(2);
      await emu.kit.webhooks.idle();
      assert.deepEqual(
        receiver.received.map((d: Received) => (d.body.data as Record<string, unknown>).title),
        ['second', 'first'],
      );
      // Out of order on the wire, but the payloads still carry the platform's order.
      const [late, early] = receiver.received.map((d) =>
        Date.parse((d.body.data as { updatedAt: string }).updatedAt),
      );
      assert.ok(late! > early!);
    } finally {
      await receiver.close();
    }
  });
});
