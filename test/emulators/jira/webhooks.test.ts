/**
 * Admin webhooks: registration, payloads, attribution, Jira's headers and retries, and the
 * signature checked by an independent implementation of the documented algorithm:
 * `X-Hub-Signature: <method>=<hex HMAC(secret, raw body)>`, today method `sha256`.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { IncomingHttpHeaders } from 'node:http';
import {
  ALICE,
  BOT,
  adf,
  failure,
  harness,
  receiver,
  registerWebhook,
  testSeed,
  type Harness,
} from './helpers.ts';

const SECRET = 'webhook-secret-for-tests';

/** Written from Atlassian's description, not from the emulator's code. */
function verifyHubSignature(secret: string, raw: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const eq = header.indexOf('=');
  if (eq < 0) return false;
  const method = header.slice(0, eq);
  const given = header.slice(eq + 1);
  if (method !== 'sha256' || !/^[0-9a-f]{64}$/.test(given)) return false;
  const expected = createHmac('sha256', secret).update(raw).digest();
  const actual = Buffer.from(given, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

describe("Jira's signature algorithm", () => {
  it("matches Atlassian's published vector", () => {
    const digest = createHmac('sha256', "It's a Secret to Everybody").update('Hello World!').digest('hex');
    const header = `sha256=${digest}`;
    assert.ok(header.startsWith('sha256=a4771c39'));
    assert.ok(header.endsWith('263c9'));
    assert.equal(verifyHubSignature("It's a Secret to Everybody", Buffer.from('Hello World!'), header), true);
    assert.equal(
      verifyHubSignature("It's a Secret to Everybody", Buffer.from('Hello World?'), header),
      false,
    );
  });
});

describe('jira emulator: admin webhooks', () => {
  let h: Harness;
  before(async () => {
    h = await harness({ webhookTimeScale: 0.0001 });
  });
  after(async () => {
    await h.close();
  });
  beforeEach(async () => {
    await h.control.reset();
    await h.control.seed(testSeed());
  });

  const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };

  it('registers, lists and deletes webhooks through /rest/webhooks/1.0/webhook', async () => {
    const created = await registerWebhook(h.bot, {
      name: 'lockstep',
      url: 'http://127.0.0.1:9/hook',
      events: ['jira:issue_created', 'comment_created'],
      filters: { 'issue-related-events-section': 'project = LOCK' },
      secret: SECRET,
    });
    assert.match(created.self, /\/rest\/webhooks\/1\.0\/webhook\/1$/);
    assert.deepEqual(created.filters, { 'issue-related-events-section': 'project = LOCK' });
    const list = await h.bot.sendRequest<{ self: string }[]>(
      { url: '/rest/webhooks/1.0/webhook', method: 'GET' },
      undefined as never,
    );
    assert.equal(list.length, 1);
    await h.bot.sendRequest({ url: '/rest/webhooks/1.0/webhook/1', method: 'DELETE' }, undefined as never);
    const empty = await h.bot.sendRequest<unknown[]>(
      { url: '/rest/webhooks/1.0/webhook', method: 'GET' },
      undefined as never,
    );
    assert.deepEqual(empty, []);
    const bad = await failure(() =>
      registerWebhook(h.bot, { name: 'x', url: 'not a url', events: ['issue_exploded'] }),
    );
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.keys((bad.body as { errors: object }).errors).sort(), ['events', 'url']);
  });

  it('signs every delivery and attributes bot writes to the bot and other writes to the person', async () => {
    const rx = await receiver();
    try {
      await registerWebhook(h.bot, {
        name: 'lockstep',
        url: rx.url,
        events: ['jira:issue_created', 'jira:issue_updated', 'comment_created'],
        filters: { 'issue-related-events-section': 'project = LOCK' },
        secret: SECRET,
      });
      const { key } = await h.bot.issues.createIssue({
        fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Echo' },
      });
      await h.alice.issues.doTransition({ issueIdOrKey: key, transition: { id: '21' } });
      await h.alice.issueComments.addComment({ issueIdOrKey: key, comment: adf('hi') });
      // Filtered out: another project.
      await h.bot.issues.createIssue({
        fields: { project: { key: 'OTHER' }, issuetype: { name: 'Task' }, summary: 'Not for us' },
      });
      // created + transition + (comment_created + issue_updated/issue_commented)
      const got = await rx.waitFor(4);
      await h.emu.kit.webhooks.idle();
      assert.equal(got.length, 4);

      for (const r of got) {
        assert.equal(verifyHubSignature(SECRET, r.raw, r.headers['x-hub-signature']), true);
        assert.equal(verifyHubSignature('wrong-secret', r.raw, r.headers['x-hub-signature']), false);
        assert.match(header(r.headers, 'x-atlassian-webhook-identifier') ?? '', /^\d+$/);
        assert.equal(r.headers['x-atlassian-webhook-retry'], undefined);
      }
      // Deliveries run concurrently, so find each by its event rather than by arrival order.
      const bodies = got.map((r) => r.body);
      const created = bodies.find((b) => b['webhookEvent'] === 'jira:issue_created');
      const transitioned = bodies.find((b) => b['issue_event_type_name'] === 'issue_generic');
      const commentEvents = bodies.filter((b) => b !== created && b !== transitioned);
      assert.equal(created?.['webhookEvent'], 'jira:issue_created');
      assert.equal((created?.['user'] as { accountId: string }).accountId, BOT.accountId);
      assert.equal((created?.['issue'] as { key: string }).key, key);
      assert.equal(typeof created?.['timestamp'], 'number');
      assert.equal(created?.['changelog'], undefined);

      assert.equal(transitioned?.['webhookEvent'], 'jira:issue_updated');
      assert.equal((transitioned?.['user'] as { accountId: string }).accountId, ALICE.accountId);
      const items = (
        transitioned?.['changelog'] as { items: { field: string; fromString: string; toString: string }[] }
      ).items;
      assert.deepEqual(
        items.map((i) => [i.field, i.fromString, i.toString]),
        [['status', 'To Do', 'In Progress']],
      );

      const comment = commentEvents.find((b) => b['webhookEvent'] === 'comment_created');
      assert.equal(
        (comment?.['comment'] as { author: { accountId: string } }).author.accountId,
        ALICE.accountId,
      );
      assert.deepEqual((comment?.['comment'] as { body: unknown }).body, adf('hi'));
      const commented = commentEvents.find((b) => b['webhookEvent'] === 'jira:issue_updated');
      assert.equal(commented?.['issue_event_type_name'], 'issue_commented');
    } finally {
      await rx.close();
    }
  });

  it('retries on 5xx, 429 and 409 with the same identifier and X-Atlassian-Webhook-Retry, not on 400', async () => {
    const rx = await receiver([503, 429, 409]);
    try {
      await registerWebhook(h.bot, {
        name: 'retry',
        url: rx.url,
        events: ['jira:issue_created'],
        secret: SECRET,
      });
      await h.bot.issues.createIssue({
        fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Retry me' },
      });
      const got = await rx.waitFor(4);
      await h.emu.kit.webhooks.idle();
      assert.equal(got.length, 4);
      const ids = new Set(got.map((r) => r.headers['x-atlassian-webhook-identifier']));
      assert.equal(ids.size, 1);
      assert.deepEqual(
        got.map((r) => r.headers['x-atlassian-webhook-retry']),
        [undefined, '1', '2', '3'],
      );
      assert.ok(got.every((r) => r.raw.equals(got[0]?.raw ?? Buffer.alloc(0))));

      const log = await h.control.deliveries();
      assert.deepEqual(
        log.map((d) => d.status),
        [503, 429, 409, 200],
      );
    } finally {
      await rx.close();
    }
    const refused = await receiver([400]);
    try {
      await h.control.reset();
      await h.control.seed(testSeed());
      await registerWebhook(h.bot, { name: 'no-retry', url: refused.url, events: ['jira:issue_created'] });
      await h.bot.issues.createIssue({
        fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Once' },
      });
      await refused.waitFor(1);
      await h.emu.kit.webhooks.idle();
      assert.equal(refused.received.length, 1);
      assert.equal(refused.received[0]?.headers['x-hub-signature'], undefined);
    } finally {
      await refused.close();
    }
  });

  it('gives up after 5 retries', async () => {
    const rx = await receiver([500, 500, 500, 500, 500, 500, 500]);
    try {
      await registerWebhook(h.bot, { name: 'down', url: rx.url, events: ['jira:issue_created'] });
      await h.bot.issues.createIssue({
        fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Lost' },
      });
      await rx.waitFor(6);
      await h.emu.kit.webhooks.idle();
      assert.equal(rx.received.length, 6);
      assert.deepEqual(
        rx.received.map((r) => r.headers['x-atlassian-webhook-retry']),
        [undefined, '1', '2', '3', '4', '5'],
      );
    } finally {
      await rx.close();
    }
  });

  it('drops, duplicates and reorders deliveries on request', async () => {
    const rx = await receiver();
    try {
      await registerWebhook(h.bot, {
        name: 'faulty',
        url: rx.url,
        events: ['jira:issue_created'],
        secret: SECRET,
      });
      const create = (summary: string): Promise<unknown> =>
        h.bot.issues.createIssue({
          fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary },
        });
      await h.control.fault({ kind: 'webhook_drop', count: 1 });
      await create('dropped');
      await h.control.fault({ kind: 'webhook_duplicate', count: 1 });
      await create('twice');
      await h.control.fault({ kind: 'webhook_reorder', count: 2 });
      await create('first');
      await create('second');
      await rx.waitFor(4);
      await h.emu.kit.webhooks.idle();
      const summaries = rx.received.map(
        (r) => (r.body['issue'] as { fields: { summary: string } }).fields.summary,
      );
      assert.deepEqual(summaries, ['twice', 'twice', 'second', 'first']);
      const [a, b] = rx.received;
      assert.equal(
        a?.headers['x-atlassian-webhook-identifier'],
        b?.headers['x-atlassian-webhook-identifier'],
      );
      assert.ok(rx.received.every((r) => verifyHubSignature(SECRET, r.raw, r.headers['x-hub-signature'])));
      const log = await h.control.deliveries();
      assert.equal(log.filter((d) => d.outcome === 'dropped').length, 1);
    } finally {
      await rx.close();
    }
  });
});
