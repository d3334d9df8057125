/**
 * The ingest HTTP layer through real HTTP: real `lockstep ingest` processes on the test stack's
 * Kafka, registry and Postgres, private topics and database. Signatures are real HMACs made here
 * as each platform makes them. Kafka and Postgres outages are made for one ingest process at a
 * time by pointing it at a gate: a local port that drops every connection until it is opened, then
 * forwards to the real server — the shared stack is never stopped.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { LinearClient } from '@linear/sdk';
import { boundConnectors, loadAppConfig, type AppConfig } from '../../services/app/config.ts';
import { preparePipeline } from '../../services/app/launcher.ts';
import {
  createConsumer,
  createKafka,
  createRegistry,
  createSerde,
  topicOffsets,
} from '../../services/core/kafka/index.ts';
import type { ChangeEvent, DeadLetter } from '../../schemas/generated/types.ts';
import { EmulatorControl } from '../emulators/common/control-client.ts';
import type { RunningEmulator } from '../emulators/common/server.ts';
import {
  demoSeed as jiraSeed,
  startJiraEmulator,
  DEMO_BOT_TOKEN as JIRA_BOT_TOKEN,
} from '../emulators/jira/index.ts';
import {
  demoSeed as linearSeed,
  LINEAR_DEMO_TOKENS,
  startLinearEmulator,
} from '../emulators/linear/index.ts';
import { testStackEndpoints } from '../stack/env.ts';
import { freshDatabase, rand } from './core-helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'lockstep.mjs');
const PRELOAD = join(ROOT, 'services', 'core', 'telemetry', 'preload.ts');
const SECRETS = { linear: 'it-linear-webhook-secret', jira: 'it-jira-webhook-secret' } as const;
type Platform = keyof typeof SECRETS;
const PLATFORMS: Platform[] = ['linear', 'jira'];
const MAX_BODY = 64 * 1024;

const hmac = (secret: string, body: Buffer) => createHmac('sha256', secret).update(body).digest('hex');

/** Headers as each platform sends them: Linear-Signature (+ timestamp), Jira X-Hub-Signature. */
function signed(
  platform: Platform,
  body: Buffer,
  secret: string = SECRETS[platform],
): Record<string, string> {
  if (platform === 'linear')
    return {
      'linear-signature': hmac(secret, body),
      'linear-delivery': randomUUID(),
      'linear-timestamp': String(Date.now()),
    };
  return {
    'x-hub-signature': `sha256=${hmac(secret, body)}`,
    'x-atlassian-webhook-identifier': randomUUID(),
  };
}

/** The connectors' own webhook fixtures: real payload shapes to sign and to mutate. */
function fixtures(platform: Platform): unknown[] {
  const dir = join(ROOT, 'services', 'connectors', platform, 'fixtures');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown);
}

/** A fixture with a fresh timestamp (Linear's 60 s window) and fresh entity ids (no dedupe between runs). */
function fresh(platform: Platform, payload: unknown): unknown {
  const text = JSON.stringify(payload).replace(
    /"id":"([^"]+)"/g,
    (_m, id: string) => `"id":"${id}-${rand('x')}"`,
  );
  const p = JSON.parse(text) as Record<string, unknown>;
  if (platform === 'linear') p['webhookTimestamp'] = Date.now();
  return p;
}

interface Gate {
  port: number;
  /** From now on forward connections to the real server instead of dropping them. */
  open(): void;
  close(): Promise<void>;
}

/** A port that drops every connection (the dependency is down) until opened. */
async function gate(target: { host: string; port: number }): Promise<Gate> {
  let forwarding = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    if (!forwarding) return void sock.destroy();
    const up = connect(target.port, target.host);
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => sock.destroy());
    sock.on('error', () => up.destroy());
    sock.pipe(up).pipe(sock);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    open: () => void (forwarding = true),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

interface Ingest {
  url: string;
  child: ChildProcess;
  config: AppConfig;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `lockstep ingest` (the real process, with the telemetry preload) and waits until it listens. */
async function startIngest(dir: string, name: string, doc: Record<string, unknown>): Promise<Ingest> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  const config = loadAppConfig(file, {});
  const child = spawn(process.execPath, ['--import', PRELOAD, BIN, 'ingest'], {
    cwd: ROOT,
    env: { ...process.env, LOCKSTEP_CONFIG: file, LOCKSTEP_SERVICE_NAME: `lockstep-it-${name}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`starting ingest ${name}: not listening within 90 s\n${out}`)),
      90_000,
    );
    const onData = () => {
      for (const line of out.split('\n')) {
        if (!line.includes('ingest listening')) continue;
        const { port: p } = JSON.parse(line) as { port: number };
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve(p);
        return;
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`starting ingest ${name}: exited with ${code}\n${out}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    config,
    output: () => out,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function post(
  ingest: Ingest,
  platform: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const res = await fetch(`${ingest.url}/webhooks/${platform}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON: kept in `text`.
  }
  return { status: res.status, body: parsed, text };
}

/** The `lockstep_ingest_webhooks_total` series of an ingest: labels → value. */
async function webhookSeries(ingest: Ingest): Promise<Map<string, number>> {
  const text = await (await fetch(`${ingest.url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('lockstep_ingest_webhooks_total{')) continue;
    const end = line.indexOf('}');
    // Keyed by platform and result (the process's default `service` label left out).
    const labels = line
      .slice(line.indexOf('{') + 1, end)
      .split(',')
      .filter((l) => l.startsWith('platform=') || l.startsWith('result='));
    out.set(labels.join(','), Number(line.slice(end + 1).trim()));
  }
  return out;
}

async function recordCount(config: AppConfig, topic: string): Promise<number> {
  const offsets = await topicOffsets(createKafka(config.kafka), topic);
  return offsets.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0);
}

/** Every record of a topic, decoded (reads to the end offsets at the time of the call). */
async function readAll<T>(config: AppConfig, topic: string): Promise<T[]> {
  const kafka = createKafka(config.kafka);
  const last = new Map<number, bigint>();
  for (const o of await topicOffsets(kafka, topic))
    if (BigInt(o.high) > BigInt(o.low)) last.set(o.partition, BigInt(o.high) - 1n);
  if (last.size === 0) return [];
  const out: T[] = [];
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const consumer = createConsumer<T>(
    kafka,
    createSerde(createRegistry(config.registry.url), config.kafka.topics),
    {
      groupId: `it-ingest-reader-${randomUUID()}`,
      topics: [topic],
      fromBeginning: true,
      async eachMessage(r) {
        if (r.value) out.push(r.value);
        const end = last.get(r.partition);
        if (end !== undefined && BigInt(r.offset) >= end) last.delete(r.partition);
        if (last.size === 0) finish();
      },
    },
  );
  const timer = setTimeout(finish, 60_000);
  await consumer.start();
  await finished;
  clearTimeout(timer);
  await consumer.stop();
  if (last.size > 0) throw new Error(`reading ${topic}: not read to the end within 60 s`);
  return out;
}

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `waiting for ${what}: not within ${timeoutMs} ms${lastErr ? ` (last error: ${String(lastErr)})` : ''}`,
  );
}

describe('ingest over real HTTP', { timeout: 600_000 }, () => {
  const stack = testStackEndpoints();
  const kafkaAddr = (() => {
    const [host, port] = stack.kafka.bootstrap.split(':');
    return { host: host ?? '127.0.0.1', port: Number(port) };
  })();
  let dir: string;
  let db: { url: string; drop(): Promise<void> };
  let linearEmu: RunningEmulator;
  let jiraEmu: RunningEmulator;
  let base: Record<string, unknown>;
  let ingest: Ingest;
  const extra: Ingest[] = [];
  const gates: Gate[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lockstep-it-ingest-'));
    db = await freshDatabase();
    linearEmu = await startLinearEmulator({
      webhookTimeScale: 0.001,
      seed: { ...linearSeed(), issues: [], comments: [] },
    });
    jiraEmu = await startJiraEmulator({ webhookTimeScale: 0.001, seed: { ...jiraSeed(), issues: [] } });
    const p = rand('it-ingest');
    base = {
      kafka: {
        brokers: [stack.kafka.bootstrap],
        clientId: p,
        partitions: 3,
        topics: {
          changes: `${p}.changes.v1`,
          commandsPrefix: `${p}.commands.`,
          outcomes: `${p}.outcomes.v1`,
          conflicts: `${p}.conflicts.v1`,
          dlq: `${p}.dlq.v1`,
          audit: `${p}.audit.v1`,
        },
      },
      registry: { url: stack.registry.url },
      postgres: { url: db.url },
      telemetry: { enabled: false },
      logLevel: 'info',
      connectors: {
        linear: {
          apiKey: LINEAR_DEMO_TOKENS.bot,
          webhookSecret: SECRETS.linear,
          apiUrl: `${linearEmu.url}/graphql`,
          teams: ['ENG'],
        },
        jira: {
          host: jiraEmu.url,
          email: 'lockstep-bot@example.com',
          apiToken: JIRA_BOT_TOKEN,
          webhookSecret: SECRETS.jira,
          // The connector's fixtures' project, and JRA: Atlassian's documented example's.
          projects: ['PROJ', 'JRA'],
        },
      },
      // Generous: while Kafka is up no webhook may see a 503, however loaded the machine is.
      ingest: { port: 0, pollIntervalMs: 0, maxBodyBytes: MAX_BODY, publishTimeoutMs: 30_000 },
    };
    writeFileSync(join(dir, 'prepare.yaml'), stringify(base));
    await preparePipeline(loadAppConfig(join(dir, 'prepare.yaml'), {}), () => undefined);
    ingest = await startIngest(dir, 'main', base);
  });

  after(async () => {
    for (const i of [ingest, ...extra]) await i?.stop();
    for (const g of gates) await g.close();
    await linearEmu?.close();
    await jiraEmu?.close();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is ready only when Kafka, the registry and Postgres answer', async () => {
    const res = await eventually('ingest /readyz 200', async () => {
      const r = await fetch(`${ingest.url}/readyz`);
      return r.status === 200 ? ((await r.json()) as { checks: Record<string, { ok: boolean }> }) : undefined;
    });
    assert.deepEqual(Object.keys(res.checks).sort(), ['kafka', 'postgres', 'registry']);
    assert.ok(Object.values(res.checks).every((c) => c.ok));
  });

  it('a missing or wrong signature is a 401 and publishes nothing', async () => {
    const changes = ingest.config.kafka.topics.changes;
    const before = await recordCount(ingest.config, changes);
    for (const platform of PLATFORMS) {
      const body = Buffer.from(JSON.stringify(fresh(platform, fixtures(platform)[0])));
      const missing = await post(ingest, platform, body);
      assert.equal(missing.status, 401, `${platform} unsigned: ${missing.text}`);
      const wrong = await post(ingest, platform, body, signed(platform, body, 'not-the-secret'));
      assert.equal(wrong.status, 401, `${platform} wrongly signed: ${wrong.text}`);
      // A valid signature over other bytes (the body changed in transit).
      const other = await post(
        ingest,
        platform,
        body,
        signed(platform, Buffer.concat([body, Buffer.from(' ')])),
      );
      assert.equal(other.status, 401, `${platform} signature of other bytes: ${other.text}`);
    }
    assert.equal(await recordCount(ingest.config, changes), before, 'nothing published');
    const series = await webhookSeries(ingest);
    for (const platform of PLATFORMS)
      assert.equal(series.get(`platform="${platform}",result="bad_signature"`), 3);
  });

  it('a signed payload is published; a malformed signed body is a 400 with a generic body and a dead letter', async () => {
    const { changes, dlq } = ingest.config.kafka.topics;
    const before = await recordCount(ingest.config, changes);
    const body = Buffer.from(
      JSON.stringify(
        fresh(
          'jira',
          fixtures('jira').find((f) => JSON.stringify(f).includes('jira:issue_created')),
        ),
      ),
    );
    const ok = await post(ingest, 'jira', body, signed('jira', body));
    assert.equal(ok.status, 200, ok.text);
    assert.ok(Number(ok.body['events']) >= 1, ok.text);
    assert.equal(await recordCount(ingest.config, changes), before + Number(ok.body['events']));

    const dlqBefore = await recordCount(ingest.config, dlq);
    const broken = Buffer.from('{"webhookEvent": "jira:issue_updated", "issue": ');
    const bad = await post(ingest, 'jira', broken, signed('jira', broken));
    assert.equal(bad.status, 400, bad.text);
    assert.doesNotMatch(
      bad.text,
      /JSON|Unexpected|position|SyntaxError/,
      'no parser internals in the answer',
    );
    assert.equal(await recordCount(ingest.config, dlq), dlqBefore + 1);
    const last = (await readAll<DeadLetter>(ingest.config, dlq)).at(-1);
    assert.equal(last?.stage, 'ingest');
    assert.equal(last?.topic, 'webhook:jira');
    assert.equal(last?.error.category, 'validation');
    assert.deepEqual(last?.value, broken, 'the original bytes, to retry from');
    assert.ok(!Object.keys(last?.headers ?? {}).some((h) => /signature/i.test(h)), 'no signature kept');
  });

  it("Atlassian's documented jira:issue_updated example (accoundId, no updated, priority a string), signed, is published as one event with an unknown actor", async () => {
    const { changes } = ingest.config.kafka.topics;
    const before = await recordCount(ingest.config, changes);
    const doc = fixtures('jira').find((f) => JSON.stringify(f).includes('"accoundId"'));
    assert.ok(doc, 'the fixture atlassian-doc-issue-updated.json');
    const body = Buffer.from(JSON.stringify(fresh('jira', doc)));
    const r = await post(ingest, 'jira', body, signed('jira', body));
    assert.equal(r.status, 200, r.text);
    assert.equal(Number(r.body['events']), 1, r.text);
    assert.equal(await recordCount(ingest.config, changes), before + 1);
    // Partitions interleave in a read of the topic: find it by its key.
    const ev = (await readAll<ChangeEvent>(ingest.config, changes)).find(
      (e) => e.source.entityKey === 'JRA-20002',
    );
    assert.ok(ev, 'the event on the changes topic');
    // Decoded Avro records are class instances: compare plain copies.
    assert.deepEqual(
      { ...ev.source.actor },
      {
        email: null,
        platformUserId: null,
        displayName: 'Bryan Rollins [Atlassian]',
      },
    );
    assert.deepEqual([...ev.changedFields], ['title']);
  });

  it('a body over the limit is a 413', async () => {
    const body = Buffer.alloc(MAX_BODY + 1, 'a');
    const r = await post(ingest, 'linear', body, signed('linear', body));
    assert.equal(r.status, 413, r.text);
    assert.equal((await webhookSeries(ingest)).get('platform="linear",result="too_large"'), 1);
  });

  it('an unknown platform is a 404 and makes no new metric series', async () => {
    const before = await webhookSeries(ingest);
    for (const platform of ['nope', rand('made-up'), 'asana', '..%2F..%2Fadmin']) {
      const r = await post(ingest, platform, Buffer.from('{}'));
      assert.equal(r.status, 404, `${platform}: ${r.text}`);
      assert.ok(!r.text.includes(platform), 'the path is not echoed');
    }
    const afterSeries = await webhookSeries(ingest);
    assert.deepEqual([...afterSeries.keys()].sort(), [...before.keys()].sort(), 'the same series');
    const key = 'platform="unknown",result="unknown_platform"';
    assert.equal(afterSeries.get(key), (before.get(key) ?? NaN) + 4);
  });

  it('property: random, mutated, signed and unsigned payloads never get a 5xx, never crash it, and every accepted one is published or dead-lettered', async (t) => {
    const { changes, dlq } = ingest.config.kafka.topics;
    const changesBefore = await recordCount(ingest.config, changes);
    const dlqBefore = await recordCount(ingest.config, dlq);
    let published = 0;
    let deadLettered = 0;
    const statuses = new Map<number, number>();

    const seeds = Object.fromEntries(PLATFORMS.map((p) => [p, fixtures(p)])) as Record<Platform, unknown[]>;
    const mutation = fc.record({
      at: fc.nat(),
      op: fc.constantFrom('replace', 'delete'),
      value: fc.jsonValue({ maxDepth: 2 }),
    });
    const body = fc.oneof(
      // A real payload shape with some fields replaced or removed.
      fc.record({
        kind: fc.constant('mutated' as const),
        seed: fc.nat(),
        edits: fc.array(mutation, { maxLength: 4 }),
      }),
      fc.record({ kind: fc.constant('json' as const), value: fc.jsonValue({ maxDepth: 3 }) }),
      fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 512 }) }),
      fc.record({ kind: fc.constant('truncated' as const), seed: fc.nat(), cut: fc.nat() }),
    );
    const sample = fc.record({
      platform: fc.constantFrom(...PLATFORMS),
      body,
      signing: fc.constantFrom('signed', 'signed', 'unsigned', 'wrong'),
    });

    type Body = typeof body extends fc.Arbitrary<infer B> ? B : never;
    const build = (platform: Platform, b: Body): Buffer => {
      const pick = (n: number) => fresh(platform, seeds[platform][n % seeds[platform].length]);
      if (b.kind === 'json') return Buffer.from(JSON.stringify(b.value) ?? 'null');
      if (b.kind === 'bytes') return Buffer.from(b.bytes);
      if (b.kind === 'truncated') {
        const text = JSON.stringify(pick(b.seed));
        return Buffer.from(text.slice(0, b.cut % text.length));
      }
      const payload = pick(b.seed) as Record<string, unknown>;
      for (const e of b.edits) {
        // Walk to a random nested object and edit one of its keys.
        let node: Record<string, unknown> = payload;
        for (let depth = 0; depth < 3; depth++) {
          const keys = Object.keys(node);
          const k = keys[(e.at >> depth) % Math.max(1, keys.length)];
          const child = k === undefined ? undefined : node[k];
          if (typeof child !== 'object' || child === null || Array.isArray(child) || depth === 2) {
            if (k === undefined) break;
            if (e.op === 'delete') delete node[k];
            else node[k] = e.value;
            break;
          }
          node = child as Record<string, unknown>;
        }
      }
      return Buffer.from(JSON.stringify(payload));
    };

    await fc.assert(
      fc.asyncProperty(sample, async (s) => {
        const raw = build(s.platform, s.body);
        const headers =
          s.signing === 'signed'
            ? signed(s.platform, raw)
            : s.signing === 'wrong'
              ? signed(s.platform, raw, 'a-wrong-secret')
              : {};
        const r = await post(ingest, s.platform, raw, headers);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        assert.ok(
          r.status < 500,
          `${r.status} for ${s.signing} ${s.platform} ${raw.toString('utf8').slice(0, 200)}: ${r.text}`,
        );
        if (s.signing !== 'signed') assert.equal(r.status, 401, r.text);
        else assert.ok([200, 400, 401].includes(r.status), `${r.status}: ${r.text}`);
        if (r.status === 200) published += Number(r.body['events'] ?? 0);
        if (r.status === 400) deadLettered++;
        assert.equal(ingest.child.exitCode, null, `ingest exited:\n${ingest.output()}`);
      }),
      { numRuns: 150 },
    );

    t.diagnostic(
      `statuses ${JSON.stringify([...statuses])}, ${published} events published, ${deadLettered} dead letters`,
    );
    assert.ok(
      (statuses.get(200) ?? 0) > 0 &&
        (statuses.get(400) ?? 0) > 0 &&
        (statuses.get(401) ?? 0) > 0 &&
        published > 0,
      JSON.stringify([...statuses]),
    );
    assert.equal(
      await recordCount(ingest.config, changes),
      changesBefore + published,
      'every 200 event is on the changes topic',
    );
    assert.equal(
      await recordCount(ingest.config, dlq),
      dlqBefore + deadLettered,
      'every 400 is a dead letter',
    );
    assert.equal((await fetch(`${ingest.url}/healthz`)).status, 200);
  });

  it('its dead letters through lockstep dlq: shown with the webhook body, never put back on a topic, discardable', async () => {
    const cli = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
        execFile(
          process.execPath,
          [BIN, 'dlq', ...args, '-c', join(dir, 'prepare.yaml')],
          { cwd: ROOT, timeout: 120_000 },
          (err, stdout, stderr) => {
            if (err && typeof err.code !== 'number') return reject(err);
            resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
          },
        );
      });
    const list = await cli(['list', '--json', '--stage', 'ingest']);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; topic: string; state: string; deadLetteredAt: string })
      // Listed by partition and offset; the earliest is the malformed body of the test above.
      .sort((a, b) => a.deadLetteredAt.localeCompare(b.deadLetteredAt));
    assert.equal(rows.length, await recordCount(ingest.config, ingest.config.kafka.topics.dlq));
    const first = rows[0]!;
    assert.equal(first.topic, 'webhook:jira');
    const shown = await cli(['show', first.id, '--json']);
    assert.equal(shown.code, 0, shown.stderr);
    const full = JSON.parse(shown.stdout) as { decodeError: string | null; value: string };
    assert.match(full.decodeError ?? '', /JSON/, 'the truncated body is shown undecoded, with why');
    assert.equal(
      Buffer.from(full.value, 'base64').toString(),
      '{"webhookEvent": "jira:issue_updated", "issue": ',
    );

    const retry = await cli(['retry', first.id]);
    assert.equal(retry.code, 1);
    assert.match(
      retry.stderr,
      /cannot retry: it did not come from one of Lockstep's topics \(webhook:jira\)/,
    );
    const all = await cli(['retry', '--all', '--stage', 'ingest']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(
      all.stderr,
      new RegExp(`skipping ${rows.length} dead letter\\(s\\) that cannot be put back`),
    );
    const discard = await cli(['discard', first.id, '--reason', 'test payload', '--by', 'it']);
    assert.equal(discard.code, 0, discard.stderr);
    const after = await cli(['list', '--json', '--state', 'discarded']);
    assert.deepEqual(
      after.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id),
      [first.id],
    );
  });

  it('Postgres down: webhooks get a 503 without internals, and it is not ready', async () => {
    const pgUrl = new URL(db.url);
    const down = await gate({ host: pgUrl.hostname, port: Number(pgUrl.port) });
    gates.push(down);
    pgUrl.port = String(down.port);
    const i = await startIngest(dir, 'pg-down', { ...base, postgres: { url: pgUrl.toString() } });
    extra.push(i);
    const body = Buffer.from(JSON.stringify(fresh('linear', fixtures('linear')[0])));
    const r = await post(i, 'linear', body, signed('linear', body));
    assert.equal(r.status, 503, r.text);
    assert.ok(r.body['error'], r.text);
    assert.doesNotMatch(r.text, /Connection|ECONN|terminated|postgres/i, 'no driver message in the answer');
    const ready = await fetch(`${i.url}/readyz`);
    assert.equal(ready.status, 503);
    const checks = ((await ready.json()) as { checks: Record<string, { ok: boolean }> }).checks;
    assert.equal(checks['postgres']?.ok, false);
  });

  it('Kafka down: webhooks get a 503, it is not ready, and the platform’s retry succeeds once Kafka is back', async () => {
    const kafka = await gate(kafkaAddr);
    gates.push(kafka);
    const doc = {
      ...base,
      kafka: { ...(base['kafka'] as object), brokers: [`127.0.0.1:${kafka.port}`] },
      // Short, so each failed delivery is answered well inside the Linear emulator's 5 s timeout.
      ingest: { ...(base['ingest'] as object), publishTimeoutMs: 2000 },
      connectors: { linear: (base['connectors'] as Record<string, unknown>)['linear'] },
    };
    const i = await startIngest(dir, 'kafka-down', doc);
    extra.push(i);

    const notReady = await fetch(`${i.url}/readyz`);
    assert.equal(notReady.status, 503);
    assert.equal(
      ((await notReady.json()) as { checks: Record<string, { ok: boolean }> }).checks['kafka']?.ok,
      false,
    );

    // The Linear emulator delivers (and retries) the webhook of a real issue create.
    for (const [platform, c] of boundConnectors(i.config))
      await c.registerWebhook({ url: `${i.url}/webhooks/${platform}`, secret: SECRETS.linear });
    const control = new EmulatorControl(linearEmu.url);
    const bob = new LinearClient({ apiKey: LINEAR_DEMO_TOKENS.bob, apiUrl: `${linearEmu.url}/graphql` });
    const team = (await bob.teams({ filter: { key: { eq: 'ENG' } } })).nodes[0];
    assert.ok(team);
    const created = await (
      await bob.createIssue({ teamId: team.id, title: 'Made while Kafka was down' })
    ).issue;
    assert.ok(created);

    const failed = await eventually('two deliveries answered 503', async () => {
      const d = (await control.deliveries()).filter((x) => x.status === 503);
      return d.length >= 2 ? d : undefined;
    });
    const deliveryId = failed[0]!.deliveryId;
    const changes = i.config.kafka.topics.changes;
    kafka.open();
    await eventually(
      'the retried delivery accepted',
      async () =>
        (await control.deliveries()).some((d) => d.deliveryId === deliveryId && d.outcome === 'delivered') ||
        undefined,
      90_000,
    );
    const events = await readAll<ChangeEvent>(i.config, changes);
    assert.ok(
      events.some((e) => e.source.entityId === created.id && e.source.via === 'webhook'),
      `the create is on the changes topic: ${events.map((e) => e.source.entityId).join(', ')}`,
    );
    await eventually('ingest /readyz 200 once Kafka is back', async () =>
      (await fetch(`${i.url}/readyz`)).status === 200 ? true : undefined,
    );
    const series = await webhookSeries(i);
    assert.ok(
      (series.get('platform="linear",result="publish_failed"') ?? 0) >= 2,
      JSON.stringify([...series]),
    );
  });
});
