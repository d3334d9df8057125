/**
 * Webhook secrets learned in a handshake (Asana's X-Hook-Secret is the model) on the real test
 * Postgres: ingest's handleWebhook stores the secret before it answers the handshake, hands the
 * stored secrets to `verify` on every later delivery — also through a second store on a new pool,
 * as another ingest replica or a restarted one would — and answers 503 when the secret cannot be
 * stored. The connector here is a small test double of the connector interface (no platform with a
 * handshake, to keep this to ingest's part; the Asana connector's own test is
 * test/e2e/asana-*.test.ts); Postgres is real. A handshake is learned only while the platform's
 * registration window (webhook_registrations) is open.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Counter, Registry } from 'prom-client';
import type { BoundConnector, WebhookRequest } from '../../services/connectors/types.ts';
import { createPool, migrate, type Pool } from '../../services/core/db/index.ts';
import {
  createDeliveryStore,
  createSecretStore,
  openRegistrationWindow,
} from '../../services/ingest/store.ts';
import { handleWebhook, type WebhookDeps } from '../../services/ingest/webhooks.ts';
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import { freshDatabase } from './core-helpers.ts';

const PLATFORM = 'handshaker';
const header = (req: WebhookRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};
const sign = (secret: string, body: Buffer) => createHmac('sha256', secret).update(body).digest('hex');

/** Echoes `x-hook-secret` and learns it; verifies `x-hook-signature` against the learned secrets. */
function handshakeConnector(): BoundConnector {
  const unused = () => {
    throw new Error('not used by ingest webhooks');
  };
  return {
    platform: PLATFORM,
    learnsSecrets: true,
    handshake(req) {
      const secret = header(req, 'x-hook-secret');
      return secret
        ? { status: 200, headers: { 'x-hook-secret': secret }, body: '', learnedSecret: secret }
        : null;
    },
    verify(req) {
      const sig = Buffer.from(header(req, 'x-hook-signature') ?? '', 'utf8');
      for (const secret of req.learnedSecrets ?? []) {
        const want = Buffer.from(sign(secret, req.rawBody), 'utf8');
        if (want.length === sig.length && timingSafeEqual(want, sig)) return { ok: true, deliveryId: null };
      }
      return {
        ok: false,
        reason: `no learned secret (${req.learnedSecrets?.length ?? 0} known) signs this body`,
      };
    },
    normalize: () => [],
    expand: async (payload) => ({ payload, rejected: [] }),
    expands: false,
    createPoller: unused,
    createApplier: unused,
    createReader: unused,
    classifyError: () => ({ category: 'unknown', retriable: false }),
    describeError: String,
    registerWebhook: unused,
    resolveBotUserId: unused,
    mentions: () => [],
    readLinks: async () => new Map(),
  };
}

function deps(pool: Pool): WebhookDeps {
  const registry = new Registry();
  const webhooks = new Counter({
    name: 'test_webhooks_total',
    help: 'webhooks',
    labelNames: ['platform', 'result'] as const,
    registers: [registry],
  });
  return {
    connectors: new Map([[PLATFORM, handshakeConnector()]]),
    botUserIds: new Map(),
    publish: async (_events: ChangeEvent[]) => undefined,
    deadLetter: async () => undefined,
    deliveries: createDeliveryStore(pool),
    secrets: createSecretStore(pool),
    metrics: { webhooks },
    logger: pino({ level: 'silent' }),
    now: Date.now,
  };
}

const request = (headers: Record<string, string>, body = '{"events":[]}'): WebhookRequest => ({
  headers,
  rawBody: Buffer.from(body),
  nowMs: Date.now(),
});

describe('webhook secrets learned in a handshake (real Postgres)', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let pool: Pool;
  before(async () => {
    db = await freshDatabase();
    await migrate(db.url);
    pool = createPool(db.url, { max: 2 });
  });
  after(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('a handshake while no registration is in progress is refused (403) and its secret is not learned', async () => {
    const d = deps(pool);
    const hello = await handleWebhook(d, PLATFORM, request({ 'x-hook-secret': 'strangers-secret' }, ''));
    assert.equal(hello.status, 403, JSON.stringify(hello.body));
    assert.deepEqual(await d.secrets.known(PLATFORM), []);
    const body = '{"events":[]}';
    const forged = await handleWebhook(
      d,
      PLATFORM,
      request({ 'x-hook-signature': sign('strangers-secret', Buffer.from(body)) }, body),
    );
    assert.equal(forged.status, 401, 'what the stranger signs is refused');
    // A window that has run out is closed too.
    await openRegistrationWindow(pool, PLATFORM, 1);
    await pool.query("update webhook_registrations set open_until = now() - interval '1 second'");
    const late = await handleWebhook(d, PLATFORM, request({ 'x-hook-secret': 'strangers-secret' }, ''));
    assert.equal(late.status, 403);
    assert.deepEqual(await d.secrets.known(PLATFORM), []);
  });

  it('the handshake is answered with the secret once it is stored; deliveries signed with it verify, others do not', async () => {
    const d = deps(pool);
    await openRegistrationWindow(pool, PLATFORM, 60_000);
    const hello = await handleWebhook(d, PLATFORM, request({ 'x-hook-secret': 'secret-one' }, ''));
    assert.equal(hello.status, 200);
    assert.deepEqual(hello.headers, { 'x-hook-secret': 'secret-one' });
    const rows = await pool.query<{ secret: string }>(
      'select secret from webhook_secrets where platform = $1',
      [PLATFORM],
    );
    assert.deepEqual(
      rows.rows.map((r) => r.secret),
      ['secret-one'],
      'the secret is in Postgres when the handshake is answered',
    );

    const body = '{"events":[{"action":"changed"}]}';
    const good = await handleWebhook(
      d,
      PLATFORM,
      request({ 'x-hook-signature': sign('secret-one', Buffer.from(body)) }, body),
    );
    assert.equal(good.status, 200, JSON.stringify(good.body));
    const forged = await handleWebhook(
      d,
      PLATFORM,
      request({ 'x-hook-signature': sign('guessed', Buffer.from(body)) }, body),
    );
    assert.equal(forged.status, 401);
  });

  it('a second store on a new pool (another replica, or ingest after a restart) knows the secret; a second handshake adds one', async () => {
    const other = createPool(db.url, { max: 1 });
    try {
      const d = deps(other);
      const body = '{"events":[]}';
      const r = await handleWebhook(
        d,
        PLATFORM,
        request({ 'x-hook-signature': sign('secret-one', Buffer.from(body)) }, body),
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(
        (await handleWebhook(d, PLATFORM, request({ 'x-hook-secret': 'secret-two' }, ''))).status,
        200,
      );
      assert.deepEqual(await d.secrets.known(PLATFORM), ['secret-two', 'secret-one'], 'newest first');
      const signedTwo = await handleWebhook(
        d,
        PLATFORM,
        request({ 'x-hook-signature': sign('secret-two', Buffer.from(body)) }, body),
      );
      assert.equal(signedTwo.status, 200);
    } finally {
      await other.end();
    }
  });

  it('Postgres unreachable: the handshake gets a 503 (nothing answered that is not stored), and so do deliveries', async () => {
    const u = new URL(db.url);
    u.port = '1'; // nothing listens on port 1 of the loopback
    const down = createPool(u.toString(), { max: 1 });
    try {
      const d = deps(down);
      const hello = await handleWebhook(d, PLATFORM, request({ 'x-hook-secret': 'secret-three' }, ''));
      assert.equal(hello.status, 503);
      const body = '{"events":[]}';
      const r = await handleWebhook(
        d,
        PLATFORM,
        request({ 'x-hook-signature': sign('secret-one', Buffer.from(body)) }, body),
      );
      assert.equal(r.status, 503);
    } finally {
      await down.end();
    }
    const rows = await pool.query('select 1 from webhook_secrets where secret = $1', ['secret-three']);
    assert.equal(rows.rowCount, 0);
  });

  it('a closed window refuses the next handshake; the secrets learned before stay', async () => {
    const d = deps(pool);
    const w = await openRegistrationWindow(pool, PLATFORM, 60_000);
    await w.close();
    const hello = await handleWebhook(d, PLATFORM, request({ 'x-hook-secret': 'secret-four' }, ''));
    assert.equal(hello.status, 403);
    assert.deepEqual(await d.secrets.known(PLATFORM), ['secret-two', 'secret-one']);
  });
});
