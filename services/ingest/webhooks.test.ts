/**
 * handleWebhook's expand step (a platform whose webhooks only name what changed): the expanded
 * payload is what normalize reads, a malformed record is dead-lettered on its own while the rest
 * is published, a failed fetch answers 503 with nothing published (the platform retries), and a
 * payload expand cannot read is a dead-lettered 400. The connector is a test double of the
 * connector interface; the dead-letter and publish sinks record what they were given.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Counter, Registry } from 'prom-client';
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import type { BoundConnector, ExpandResult, RejectedItem } from '../connectors/types.ts';
import { LockstepError } from '../core/errors/index.ts';
import { handleWebhook, type WebhookDeps } from './webhooks.ts';

const PLATFORM = 'expander';

function connector(expand: (payload: unknown) => Promise<ExpandResult>): BoundConnector {
  const unused = () => {
    throw new Error('not used by ingest webhooks');
  };
  return {
    platform: PLATFORM,
    learnsSecrets: false,
    handshake: () => null,
    verify: () => ({ ok: true, deliveryId: null }),
    expands: true,
    expand: (payload) => expand(payload),
    // One event per expanded record, carrying the record's id as its eventId.
    normalize: (payload) =>
      (payload as { records: { id: string }[] }).records.map((r) => ({ eventId: r.id }) as ChangeEvent),
    createPoller: unused,
    createApplier: unused,
    createReader: unused,
    classifyError: () => ({ category: 'unknown', retriable: false }),
    describeError: (err) => String(err),
    registerWebhook: unused,
    resolveBotUserId: unused,
    mentions: () => [],
    readLinks: async () => new Map(),
  };
}

function world(expand: (payload: unknown) => Promise<ExpandResult>) {
  const published: ChangeEvent[] = [];
  const letters: string[] = [];
  const records: RejectedItem[] = [];
  const registry = new Registry();
  const webhooks = new Counter({
    name: 'test_webhooks_total',
    help: 'webhooks',
    labelNames: ['platform', 'result'] as const,
    registers: [registry],
  });
  const deps: WebhookDeps = {
    connectors: new Map([[PLATFORM, connector(expand)]]),
    botUserIds: new Map(),
    publish: async (events) => void published.push(...events),
    deadLetter: async (_p, req) => void letters.push(req.rawBody.toString()),
    deadLetterRecord: async (_p, item) => void records.push(item),
    deliveries: { seen: async () => false, remember: async () => undefined },
    secrets: { learn: async () => false, known: async () => [] },
    metrics: { webhooks },
    logger: pino({ level: 'silent' }),
    now: Date.now,
  };
  const result = async (r: string) =>
    (await webhooks.get()).values.find((v) => v.labels.result === r)?.value ?? 0;
  return { deps, published, letters, records, result };
}

const req = (body: unknown) => ({
  headers: {},
  rawBody: Buffer.from(JSON.stringify(body)),
  nowMs: Date.now(),
});

describe('ingest: expand between verify and normalize', () => {
  it('normalize reads the expanded payload; a malformed record is dead-lettered alone and the rest published', async () => {
    let seen: unknown;
    const w = world(async (payload) => {
      seen = payload;
      return {
        payload: { records: [{ id: 'a' }, { id: 'b' }] },
        rejected: [{ id: 'c', raw: { gid: 'c', name: 42 }, reason: 'name: expected string' }],
      };
    });
    const r = await handleWebhook(
      w.deps,
      PLATFORM,
      req({ events: [{ gid: 'a' }, { gid: 'b' }, { gid: 'c' }] }),
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(
      seen,
      { events: [{ gid: 'a' }, { gid: 'b' }, { gid: 'c' }] },
      'expand got the parsed body',
    );
    assert.deepEqual(
      w.published.map((e) => e.eventId),
      ['a', 'b'],
    );
    assert.deepEqual(
      w.records.map((x) => x.id),
      ['c'],
    );
    assert.equal(w.letters.length, 0, 'the delivery itself is not dead-lettered');
    assert.equal(await w.result('record_rejected'), 1);
  });

  it('a fetch that fails (the platform is down) answers 503 and publishes nothing', async () => {
    const w = world(async () => {
      throw Object.assign(new Error('Service Unavailable'), { status: 503 });
    });
    const r = await handleWebhook(w.deps, PLATFORM, req({ events: [{ gid: 'a' }] }));
    assert.equal(r.status, 503);
    assert.equal(w.published.length, 0);
    assert.equal(w.letters.length, 0, 'an outage is not bad input');
    assert.equal(await w.result('expand_failed'), 1);
  });

  it('a payload expand cannot read is dead-lettered whole (400)', async () => {
    const w = world(async () => {
      throw new LockstepError('expanding: `events` must be an array', { category: 'validation' });
    });
    const r = await handleWebhook(w.deps, PLATFORM, req({ events: 'nope' }));
    assert.equal(r.status, 400);
    assert.equal(w.letters.length, 1);
    assert.equal(w.published.length, 0);
  });

  it('a body that is not JSON is dead-lettered before expand is called', async () => {
    let called = false;
    const w = world(async (payload) => {
      called = true;
      return { payload, rejected: [] };
    });
    const r = await handleWebhook(w.deps, PLATFORM, {
      headers: {},
      rawBody: Buffer.from('{not json'),
      nowMs: Date.now(),
    });
    assert.equal(r.status, 400);
    assert.equal(called, false);
    assert.equal(w.letters.length, 1);
  });
});
