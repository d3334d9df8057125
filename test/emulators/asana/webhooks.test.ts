import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { PROJECT, Receiver, USERS, WS, rejection, startSeeded, verifyAsanaSignature } from './helpers.ts';

describe('asana emulator: webhooks (handshake, signature, attribution, retries, heartbeats, faults)', () => {
  let t: Awaited<ReturnType<typeof startSeeded>>;
  let rx: Receiver;
  let hook: { gid: string; secret: string };

  before(async () => {
    t = await startSeeded();
  });
  beforeEach(async () => {
    await rx?.close();
    await t.control.reset();
    await t.control.seed((await import('./index.ts')).demoSeed());
    await t.control.settings({ webhookTimeScale: 0.00001 });
    rx = await new Receiver().start();
    const created = (await t.bot.webhooks.createWebhook(
      { data: { resource: PROJECT, target: rx.url } },
      {},
    )) as {
      data: { gid: string; active: boolean; target: string; resource: { gid: string } };
      'X-Hook-Secret': string;
    };
    assert.equal(rx.handshakes, 1);
    assert.equal(created['X-Hook-Secret'], rx.secret);
    assert.equal(created.data.target, rx.url);
    assert.equal(created.data.resource.gid, PROJECT);
    hook = { gid: created.data.gid, secret: created['X-Hook-Secret'] };
  });
  after(async () => {
    await rx.close();
    await t.emu.close();
  });

  it('registers (handshake during the create call), lists by workspace and deletes', async () => {
    const list = await t.bot.webhooks.getWebhooks(WS, {});
    assert.deepEqual(
      (list.data as { gid: string }[]).map((w) => w.gid),
      [hook.gid],
    );
    // Webhooks are listed for their owner: another person sees none.
    assert.equal((await t.alice.webhooks.getWebhooks(WS, {})).data.length, 0);
    await t.bot.webhooks.deleteWebhook(hook.gid);
    assert.equal((await t.bot.webhooks.getWebhooks(WS, {})).data.length, 0);
    await t.alice.tasks.updateTask({ data: { name: 'after delete' } }, '1100000000001001', {});
    await t.emu.kit.webhooks.idle();
    assert.equal(rx.deliveries.length, 0);
  });

  it('refuses the webhook when the target does not echo X-Hook-Secret', async () => {
    const bad = await new Receiver().start();
    bad.echoSecret = false;
    try {
      const e = await rejection(
        t.bot.webhooks.createWebhook({ data: { resource: PROJECT, target: bad.url } }, {}),
      );
      assert.equal(e.status, 400);
      assert.match(e.response.body.errors[0]!.message, /handshake/);
      assert.equal(bad.handshakes, 1);
      assert.equal((await t.bot.webhooks.getWebhooks(WS, {})).data.length, 1);
    } finally {
      await bad.close();
    }
  });

  it('signs every delivery: hex HMAC-SHA256 of the raw body keyed with the handshake secret', async () => {
    await t.alice.tasks.updateTask({ data: { completed: true } }, '1100000000001001', {});
    await rx.waitFor(1);
    const d = rx.deliveries[0]!;
    assert.ok(verifyAsanaSignature(hook.secret, d.raw, d.headers['x-hook-signature']));
    assert.equal(verifyAsanaSignature('0'.repeat(64), d.raw, d.headers['x-hook-signature']), false);
    assert.equal(
      verifyAsanaSignature(
        hook.secret,
        Buffer.concat([d.raw, Buffer.from(' ')]),
        d.headers['x-hook-signature'],
      ),
      false,
    );
    assert.match(String(d.headers['content-type']), /^application\/json/);
  });

  it('attributes a bot-token change to the bot and a person-token change to that person', async () => {
    await t.bot.tasks.updateTask({ data: { name: 'by the bot' } }, '1100000000001001', {});
    await rx.waitFor(1);
    await t.bob.tasks.updateTask({ data: { name: 'by bob' } }, '1100000000001001', {});
    await rx.waitFor(2);
    const [byBot, byBob] = rx.deliveries.map((d) =>
      d.body.events.find((e) => (e['resource'] as { resource_type: string }).resource_type === 'task'),
    );
    assert.deepEqual(byBot, {
      user: { gid: USERS['lockstep'], resource_type: 'user' },
      created_at: byBot!['created_at'],
      action: 'changed',
      resource: { gid: '1100000000001001', resource_type: 'task', resource_subtype: 'default_task' },
      parent: null,
      change: { field: 'name', action: 'changed' },
    });
    assert.deepEqual(byBob!['user'], { gid: USERS['bob'], resource_type: 'user' });
  });

  it('echoes creates and comments made with the bot token (compact events, one batch per request)', async () => {
    const c = (await t.bot.tasks.createTask(
      { data: { name: 'new', projects: [PROJECT], external: { gid: 'lk-9' } } },
      {},
    )) as {
      data: { gid: string };
    };
    await rx.waitFor(1);
    const added = rx.deliveries[0]!.body.events;
    assert.deepEqual(
      added.map((e) => [e['action'], (e['parent'] as { resource_type: string }).resource_type]),
      [
        ['added', 'project'],
        ['added', 'section'],
      ],
    );
    assert.ok(added.every((e) => (e['user'] as { gid: string }).gid === USERS['lockstep']));
    await t.bot.stories.createStoryForTask({ data: { text: 'hello' } }, c.data.gid, {});
    await rx.waitFor(2);
    const story = rx.deliveries[1]!.body.events[0]!;
    const resource = story['resource'] as { gid: string; resource_type: string; resource_subtype: string };
    assert.match(resource.gid, /^\d+$/);
    assert.equal(resource.resource_type, 'story');
    assert.equal(resource.resource_subtype, 'comment_added');
    assert.equal((story['parent'] as { gid: string }).gid, c.data.gid);
    assert.deepEqual(story['user'], { gid: USERS['lockstep'], resource_type: 'user' });
  });

  it('retries a failed delivery with backoff, same body and signature', async () => {
    rx.answer = (n) => (n < 2 ? 500 : 200);
    await t.alice.tasks.updateTask({ data: { name: 'retry me' } }, '1100000000001001', {});
    await rx.waitFor(3);
    await t.emu.kit.webhooks.idle();
    assert.equal(rx.deliveries.length, 3);
    assert.ok(rx.deliveries.every((d) => d.raw.equals(rx.deliveries[0]!.raw)));
    assert.ok(
      rx.deliveries.every((d) => verifyAsanaSignature(hook.secret, d.raw, d.headers['x-hook-signature'])),
    );
    const log = await t.control.deliveries();
    assert.deepEqual(
      log.map((l) => [l.attempt, l.outcome, l.status]),
      [
        [0, 'failed', 500],
        [1, 'failed', 500],
        [2, 'delivered', 200],
      ],
    );
  });

  it('sends a signed heartbeat with no events on demand', async () => {
    const r = await t.asana.heartbeat();
    assert.deepEqual(r.webhooks, [hook.gid]);
    await rx.waitFor(1);
    assert.deepEqual(rx.deliveries[0]!.body, { events: [] });
    assert.ok(
      verifyAsanaSignature(hook.secret, rx.deliveries[0]!.raw, rx.deliveries[0]!.headers['x-hook-signature']),
    );
  });

  it('delivery faults: dropped, duplicated and reordered deliveries', async () => {
    await t.control.fault({ kind: 'webhook_drop', count: 1 });
    await t.alice.tasks.updateTask({ data: { name: 'dropped' } }, '1100000000001001', {});
    await t.emu.kit.webhooks.idle();
    assert.equal(rx.deliveries.length, 0);

    await t.control.fault({ kind: 'webhook_duplicate', count: 1 });
    await t.alice.tasks.updateTask({ data: { name: 'twice' } }, '1100000000001001', {});
    await rx.waitFor(2);
    await t.emu.kit.webhooks.idle();
    assert.equal(rx.deliveries.length, 2);
    assert.ok(rx.deliveries[0]!.raw.equals(rx.deliveries[1]!.raw));

    await t.control.fault({ kind: 'webhook_reorder', count: 2 });
    await t.alice.tasks.updateTask({ data: { due_on: '2030-03-01' } }, '1100000000001001', {});
    await t.alice.tasks.updateTask({ data: { due_on: '2030-03-02' } }, '1100000000001001', {});
    await rx.waitFor(4);
    const stamps = rx.deliveries.slice(2).map((d) => String(d.body.events.at(-1)!['created_at']));
    assert.ok(stamps[0]! > stamps[1]!, 'the later change arrives first');
    const log = await t.control.deliveries();
    assert.deepEqual(
      log.map((l) => l.outcome),
      ['dropped', 'delivered', 'delivered', 'delivered', 'delivered'],
    );
  });

  it('rate limit: 429 with Retry-After and Asana’s error body; 5xx with a phrase; ledger counts both', async () => {
    await t.control.clearLedger();
    await t.control.fault({
      kind: 'rate_limit',
      retryAfterSec: 7,
      count: 2,
      match: { operation: 'getTask' },
    });
    const e1 = await rejection(t.bot.tasks.getTask('1100000000001001', {}));
    const e2 = await rejection(t.bot.tasks.getTask('1100000000001001', {}));
    assert.equal(e1.status, 429);
    assert.equal(e1.response.headers['retry-after'], '7');
    assert.deepEqual(Object.keys(e1.response.body), ['errors']);
    assert.match(e1.response.body.errors[0]!.message, /too many requests/);
    assert.equal(e2.status, 429);
    await t.bot.tasks.getTask('1100000000001001', {});
    await t.control.fault({ kind: 'server_error', status: 500, count: 1 });
    const e3 = await rejection(t.bot.users.getUser('me', {}));
    assert.equal(e3.status, 500);
    assert.equal(e3.response.body.errors[0]!.message, 'Server Error');
    assert.match(String(e3.response.body.errors[0]!.phrase), /^\d \w+ \w+ \w+ \w+$/);
    const { summary, entries } = await t.control.ledger();
    assert.equal(summary.total, 4);
    assert.deepEqual(
      entries.map((x) => `${x.operation} ${x.status} ${x.actor}`),
      [
        `getTask 429 ${USERS['lockstep']}`,
        `getTask 429 ${USERS['lockstep']}`,
        `getTask 200 ${USERS['lockstep']}`,
        `getUser 500 ${USERS['lockstep']}`,
      ],
    );
  });

  it('latency and timeout faults', async () => {
    await t.control.fault({ kind: 'latency', ms: 150, count: 1 });
    const started = Date.now();
    await t.bot.users.getUser('me', {});
    assert.ok(Date.now() - started >= 140);
    await t.control.fault({ kind: 'timeout', count: 1 });
    t.bot.client.timeout = 300;
    const e = await rejection(t.bot.users.getUser('me', {}));
    t.bot.client.timeout = 60000;
    assert.equal(e.timeout, 300);
  });
});
