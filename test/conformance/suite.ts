/**
 * The connector conformance suite (issue 9 point 2): one set of checks that every connector runs
 * against its platform's emulator (test infrastructure, never the real platform), through the
 * connector's own definition — the same `verify`, `normalize`, applier, reader, poller and
 * `classifyError` the services use. A connector's `conformance.test.ts` describes its platform
 * (a started emulator, a config pointed at it, its signature vectors and payload fixtures, how a
 * person makes an item there) and calls `conformanceSuite`; nothing here names a platform.
 *
 * What it checks, for every connector:
 * - verify: the vendor's signed requests pass (its published vector where it has one); the same
 *   request with one body byte changed, without its headers, or with garbage headers fails, and
 *   verify never throws;
 * - normalize: each payload fixture gives its number of events, of this platform, the same events
 *   when normalized twice (pure, stable eventIds); a payload without the entity's id is refused
 *   with a `validation` LockstepError;
 * - round trips: create (with a marker) → read → update → read → comment → read → delete → read;
 * - a lost create: the marker finds what a create made, and repeating the create writes nothing;
 * - errors: a 429 with Retry-After, a 503 and a revoked token, made by the emulator, are classified
 *   from the error the connector's SDK really raised (rate_limit with the wait; retriable network;
 *   refused credentials);
 * - the poll: a person's new item is in a poll from no cursor; a poll from the returned cursor
 *   brings none of the first poll's events again (overlap re-reads dropped by the seen-set);
 * - timeouts: a request the platform never answers is abandoned after the connector's
 *   `requestTimeoutMs` as a retriable network error;
 * - handshake (a connector that has one): the platform's handshake request is answered as the
 *   vendor documents (its status, headers and body) and hands over the secret it carries, when it
 *   carries one; an ordinary delivery is no handshake;
 * - expand (a connector whose webhooks only name what changed): a delivery naming a person's item
 *   expands to the item as it stands, and normalizes to an event of it; a delivery naming an item
 *   that does not exist does not throw.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LockstepError } from '../../services/core/errors/index.ts';
import type { ChangeEvent, EntityType, WriteCommand } from '../../schemas/generated/types.ts';
import {
  entityState,
  type Applier,
  type ConnectorDeps,
  type ErrorClass,
  type ExpandResult,
  type HandshakeResponse,
  type NormalizeContext,
  type Poller,
  type Reader,
  type VerifyResult,
  type WebhookRequest,
} from '../../services/connectors/types.ts';
import type { RunningEmulator } from '../emulators/common/server.ts';

/** The parts of a connector definition the suite drives, for the connector's parsed config `Cfg`. */
export interface ConnectorUnderTest<Cfg> {
  platform: string;
  verify(req: WebhookRequest, config: Cfg): VerifyResult;
  normalize(payload: unknown, ctx: NormalizeContext<Cfg>): ChangeEvent[];
  createApplier(deps: ConnectorDeps<Cfg>): Applier;
  createReader(deps: ConnectorDeps<Cfg>): Reader;
  createPoller(deps: ConnectorDeps<Cfg>): Poller;
  classifyError(err: unknown): ErrorClass;
  expand?(payload: unknown, deps: ConnectorDeps<Cfg>): Promise<ExpandResult>;
  handshake?(req: WebhookRequest, config: Cfg): HandshakeResponse | null;
  /** The fields each entity type holds (PlatformFacts.capabilities): the round trip writes only those. */
  capabilities?: Readonly<Partial<Record<EntityType, readonly string[]>>>;
}

/** A running emulator and a config for the connector pointed at it. */
export interface ConformanceWorld<Cfg> {
  emulator: RunningEmulator;
  /** Connector config for the emulator, with the connector's default request timeout. */
  config: Cfg;
  /** The same config with `requestTimeoutMs` set to `ms` (the timeout check waits for it). */
  withRequestTimeout(ms: number): Cfg;
  /** The workspace a flow side names (what a WriteCommand's `workspace` carries). */
  workspace: string;
  /** Lockstep's user on the emulator and its token (revoked and issued again by the error check). */
  bot: { userId: string; token: string };
  /** A person makes an item on the platform through its official SDK; returns the item's id. */
  personCreates(title: string): Promise<string>;
  /** For a connector with `expand`: a webhook body, as the platform sends it, naming item `id`. */
  deliveryNaming?(id: string): unknown;
}

export interface ConformanceSubject<Cfg> {
  connector: ConnectorUnderTest<Cfg>;
  start(): Promise<ConformanceWorld<Cfg>>;
  /** Webhook requests signed as the vendor documents, with the config holding their secret. */
  signed: { name: string; request: WebhookRequest; config: Cfg }[];
  /** Payload fixtures (the vendor's examples or recorded shapes) and how many events each gives. */
  payloads: { name: string; payload: unknown; events: number; config: Cfg }[];
  /** Payloads that lack what Lockstep cannot work without (the entity's id). */
  malformed: { name: string; payload: unknown; config: Cfg }[];
  /**
   * For a connector with a handshake: the platform's handshake request as the vendor documents it,
   * the reply it expects, and the secret it hands over (absent: it hands none over).
   */
  handshakes?: {
    name: string;
    request: WebhookRequest;
    config: Cfg;
    reply: { status: number; headers: Record<string, string>; body: string };
    learnedSecret?: string;
  }[];
  /**
   * The entity type a flow side's item is on this platform: `issue` (default) for trackers,
   * `message` for a platform that keeps a card per item (the item's comments are its replies).
   */
  itemType?: EntityType;
  /** A generous bound on how long a poll or a marker search may lag a write (search indexing); default 30 s. */
  pollLagMs?: number;
}

const command = (workspace: string, platform: string, over: Partial<WriteCommand>): WriteCommand => ({
  commandId: `conf-${Math.random().toString(36).slice(2)}`,
  linkId: `conf-link-${Math.random().toString(36).slice(2)}`,
  flowId: 'conformance',
  platform,
  workspace,
  action: 'create',
  entityType: 'issue',
  targetId: null,
  parentId: null,
  fields: entityState({}),
  base: null,
  marker: null,
  causedBy: null,
  cause: null,
  createdAtMs: Date.now(),
  unresolved: [],
  ...over,
});

/** Runs `attempt` until it returns a value, for at most `ms`; the error says what never came. */
async function eventually<T>(what: string, ms: number, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await attempt();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function control(emu: RunningEmulator, what: string, body: unknown): Promise<void> {
  const res = await fetch(`${emu.url}/_emulator/${what}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, `emulator control ${what}: ${res.status} ${await res.text()}`);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected the call to fail'),
    (err: unknown) => err,
  );
}

export function conformanceSuite<Cfg>(subject: ConformanceSubject<Cfg>): void {
  const c = subject.connector;
  describe(`connector conformance: ${c.platform}`, () => {
    let w: ConformanceWorld<Cfg>;
    let deps: ConnectorDeps<Cfg>;
    before(async () => {
      w = await subject.start();
      deps = { config: w.config, botUserId: w.bot.userId };
    });
    after(() => w?.emulator.close());
    const itemType = subject.itemType ?? 'issue';
    const cmd = (over: Partial<WriteCommand>) =>
      command(w.workspace, c.platform, { entityType: itemType, ...over });
    const holdsDescription = (c.capabilities?.[itemType] ?? ['description']).includes('description');

    test('verify: the signed requests pass; a changed byte, no headers or garbage headers fail; it never throws', () => {
      assert.ok(subject.signed.length > 0, 'no signed request to check');
      for (const s of subject.signed) {
        assert.equal(c.verify(s.request, s.config).ok, true, `${s.name}: a correctly signed request`);
        const body = Buffer.from(s.request.rawBody);
        body[Math.floor(body.length / 2)] ^= 0x01;
        assert.equal(
          c.verify({ ...s.request, rawBody: body }, s.config).ok,
          false,
          `${s.name}: one byte changed`,
        );
        assert.equal(c.verify({ ...s.request, headers: {} }, s.config).ok, false, `${s.name}: no headers`);
        const garbage = Object.fromEntries(
          Object.keys(s.request.headers).map((k) => [k, ['', '=', 'sha256=', 'x'.repeat(4096)]]),
        );
        let r: VerifyResult | undefined;
        assert.doesNotThrow(() => (r = c.verify({ ...s.request, headers: garbage }, s.config)));
        assert.equal(r?.ok, false, `${s.name}: garbage headers`);
      }
    });

    if (c.handshake)
      test('handshake: answered as the vendor documents, with the secret it hands over; a delivery is none', () => {
        const handshake = c.handshake!.bind(c);
        assert.ok(subject.handshakes?.length, 'a connector with a handshake names its handshake requests');
        for (const h of subject.handshakes!) {
          const r = handshake(h.request, h.config);
          assert.ok(r, `${h.name}: recognised as a handshake`);
          assert.equal(r.status, h.reply.status, h.name);
          assert.deepEqual(
            Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v])),
            Object.fromEntries(Object.entries(h.reply.headers).map(([k, v]) => [k.toLowerCase(), v])),
            `${h.name}: headers`,
          );
          assert.equal(r.body, h.reply.body, `${h.name}: body`);
          assert.equal(r.learnedSecret, h.learnedSecret, `${h.name}: the secret handed over`);
        }
        for (const s of subject.signed)
          assert.equal(handshake(s.request, s.config), null, `${s.name}: a signed delivery is no handshake`);
      });

    test('normalize: each fixture gives its events, of this platform, the same ones twice; no entity id is a validation error', () => {
      assert.ok(subject.payloads.length > 0, 'no payload fixture to check');
      for (const p of subject.payloads) {
        const ctx: NormalizeContext<Cfg> = {
          config: p.config,
          via: 'webhook',
          deliveryId: 'conformance-1',
          nowMs: 1_777_700_000_000,
          botUserId: null,
        };
        const events = c.normalize(structuredClone(p.payload), ctx);
        assert.equal(events.length, p.events, `${p.name}: number of events`);
        for (const e of events) {
          assert.equal(e.source.platform, c.platform, `${p.name}: the event's platform`);
          assert.ok(e.eventId.length > 0 && e.source.entityId.length > 0, `${p.name}: ids`);
        }
        const again = c.normalize(structuredClone(p.payload), { ...ctx, deliveryId: 'other', nowMs: 5 });
        assert.deepEqual(
          again.map((e) => e.eventId),
          events.map((e) => e.eventId),
          `${p.name}: eventIds depend on the change, not on the delivery`,
        );
      }
      assert.ok(subject.malformed.length > 0, 'no malformed payload to check');
      for (const m of subject.malformed) {
        assert.throws(
          () =>
            c.normalize(structuredClone(m.payload), {
              config: m.config,
              via: 'webhook',
              deliveryId: null,
              nowMs: 0,
              botUserId: null,
            }),
          (err: unknown) => err instanceof LockstepError && err.category === 'validation',
          `${m.name}: refused as malformed`,
        );
      }
    });

    test('round trip: create → read → update → read → comment → read → delete → read', async () => {
      const applier = c.createApplier(deps);
      const reader = c.createReader(deps);
      const source = { via: 'poll' as const, deliveryId: null };
      const fields = entityState({
        title: 'Conformance: made',
        ...(holdsDescription && { description: 'Some **bold** words' }),
      });
      const made = await applier.apply(cmd({ fields, marker: `conf-${Date.now()}` }));
      assert.equal(made.alreadyApplied, false);
      const issue = { entityType: itemType, entityId: made.targetId, parentId: null };
      const read1 = await reader.read(issue, source);
      assert.ok(read1.found, 'the created item is read back');
      assert.equal(read1.event.after?.title, 'Conformance: made');
      if (holdsDescription) assert.equal(read1.event.after?.description, 'Some **bold** words');

      const changed = entityState({ ...fields, title: 'Conformance: changed' });
      await applier.apply(cmd({ action: 'update', targetId: made.targetId, fields: changed, base: fields }));
      const read2 = await reader.read(issue, source);
      assert.ok(read2.found);
      assert.equal(read2.event.after?.title, 'Conformance: changed');

      const comment = await applier.apply(
        cmd({
          entityType: 'comment',
          parentId: made.targetId,
          marker: `conf-c-${Date.now()}`,
          fields: entityState({ body: 'A comment with _emphasis_' }),
        }),
      );
      const read3 = await reader.read(
        { entityType: 'comment', entityId: comment.targetId, parentId: made.targetId },
        source,
      );
      assert.ok(read3.found, 'the comment is read back');
      assert.equal(read3.event.after?.body, 'A comment with _emphasis_');

      await applier.apply(cmd({ action: 'delete', targetId: made.targetId, fields: entityState({}) }));
      const read4 = await reader.read(issue, source);
      assert.equal(read4.found, false, 'the deleted item is gone');
    });

    test('a lost create: the marker finds what the create made, and the create again writes nothing', async () => {
      const applier = c.createApplier(deps);
      const marker = `conf-lost-${Date.now()}`;
      const create = cmd({ fields: entityState({ title: 'Conformance: lost answer' }), marker });
      const made = await applier.apply(create);
      const found = await eventually(
        'findByMarker to find the create',
        subject.pollLagMs ?? 30_000,
        async () =>
          (await applier.findByMarker({
            marker,
            entityType: itemType,
            parentId: null,
            workspace: w.workspace,
          })) ?? undefined,
      );
      assert.equal(found.targetId, made.targetId);
      const again = await applier.apply(create);
      assert.equal(again.alreadyApplied, true, 'the repeated create wrote a second item');
      assert.equal(again.targetId, made.targetId);
    });

    test('errors: a 429 with Retry-After, a 503 and a revoked token, as the SDK raised them', async () => {
      const applier = c.createApplier(deps);
      const create = () =>
        applier.apply(
          cmd({ fields: entityState({ title: 'Conformance: refused' }), marker: `conf-r-${Math.random()}` }),
        );

      // Faults fire on the next request whatever it is; cleared at the end even when a check fails.
      try {
        w.emulator.faults.add({ kind: 'rate_limit', retryAfterSec: 2, count: 1 });
        const limited = c.classifyError(await rejection(create()));
        assert.equal(limited.category, 'rate_limit');
        assert.equal(limited.retriable, true);
        assert.equal(limited.retryAfterMs, 2000);

        w.emulator.faults.add({ kind: 'server_error', status: 503, count: 1 });
        const down = c.classifyError(await rejection(create()));
        assert.equal(down.category, 'network');
        assert.equal(down.retriable, true);

        await control(w.emulator, 'tokens/revoke', { token: w.bot.token });
        const refused = c.classifyError(await rejection(create()));
        assert.equal(refused.category, 'auth');
        assert.equal(refused.credentialsRefused, true, 'a refused token refuses every write alike');
      } finally {
        w.emulator.faults.clear();
        await control(w.emulator, 'tokens/issue', { userId: w.bot.userId, token: w.bot.token });
      }
    });

    test("the poll: a person's new item comes from no cursor; the next poll brings none of those events again", async () => {
      const poller = c.createPoller(deps);
      const id = await w.personCreates(`Conformance: a person's item ${Date.now()}`);
      let first: ChangeEvent[] = [];
      const cursor = await eventually(
        "a poll from no cursor to bring the person's item",
        subject.pollLagMs ?? 30_000,
        async () => {
          const r = await poller.poll(null);
          first = r.events;
          return r.events.some((e) => e.source.entityId === id) ? r.cursor : undefined;
        },
      );
      const next = await poller.poll(cursor);
      const seen = new Set(first.map((e) => e.eventId));
      assert.deepEqual(
        next.events.filter((e) => seen.has(e.eventId)).map((e) => e.source.entityId),
        [],
        'events of the first poll came again',
      );
    });

    if (c.expand)
      test('expand: a delivery naming an item expands to it as it stands; a missing item does not throw', async () => {
        const expand = c.expand!.bind(c);
        assert.ok(w.deliveryNaming, 'a connector with expand names how its platform delivers an item');
        const title = `Conformance: expanded ${Date.now()}`;
        const id = await w.personCreates(title);
        const r = await expand(w.deliveryNaming(id), deps);
        assert.deepEqual(r.rejected, []);
        const events = c.normalize(r.payload, {
          config: w.config,
          via: 'webhook',
          deliveryId: null,
          nowMs: Date.now(),
          botUserId: w.bot.userId,
        });
        const mine = events.find((e) => e.source.entityId === id);
        assert.ok(mine, `an event of ${id} among ${events.map((e) => e.source.entityId).join(', ')}`);
        assert.equal(mine.after?.title, title);
        await expand(w.deliveryNaming('9999999999999999'), deps);
      });

    test('timeouts: a request never answered is abandoned as a retriable network error', async () => {
      // A short timeout for this applier only: the other checks keep the default, so a slow
      // answer on a loaded machine is not mistaken for a hang.
      const applier = c.createApplier({ ...deps, config: w.withRequestTimeout(500) });
      const t0 = Date.now();
      w.emulator.faults.add({ kind: 'timeout', count: 1 });
      try {
        const err = await rejection(
          applier.apply(cmd({ fields: entityState({ title: 'Conformance: hung' }), marker: `conf-t-${t0}` })),
        );
        const cls = c.classifyError(err);
        const what = `classified ${JSON.stringify(cls)} after ${Date.now() - t0} ms: ${String(err)}`;
        assert.equal(cls.category, 'network', what);
        assert.equal(cls.retriable, true, what);
      } finally {
        w.emulator.faults.clear();
      }
    });
  });
}
