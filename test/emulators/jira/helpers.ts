/** Shared set-up for the Jira emulator tests: a seeded emulator, jira.js clients, a webhook receiver. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpException, Version3Client } from 'jira.js';
import { EmulatorControl } from '../common/control-client.ts';
import type { RunningEmulator } from '../common/server.ts';
import { startJiraEmulator, type JiraEmulator, type JiraSeed } from './index.ts';
import { clientClosesIdleConnections } from '../common/keep-alive.ts';

export const BOT = { accountId: '712020:test-bot', email: 'bot@example.com', token: 'bot-api-token' };
export const ALICE = { accountId: '712020:test-alice', email: 'alice@example.com', token: 'alice-api-token' };

export function testSeed(): JiraSeed {
  return {
    users: [
      {
        accountId: BOT.accountId,
        displayName: 'Lockstep Bot',
        email: BOT.email,
        tokens: [BOT.token],
        bot: true,
      },
      { accountId: ALICE.accountId, displayName: 'Alice Example', email: ALICE.email, tokens: [ALICE.token] },
    ],
    projects: [
      { key: 'LOCK', name: 'Lockstep', id: '10100' },
      { key: 'OTHER', name: 'Other', id: '10101' },
    ],
  };
}

export interface Harness {
  emu: RunningEmulator & { jira: JiraEmulator };
  control: EmulatorControl;
  bot: Version3Client;
  alice: Version3Client;
  client(email: string, token: string): Version3Client;
  close(): Promise<void>;
}

export async function harness(
  opts: { webhookTimeScale?: number; seed?: JiraSeed; searchLagMs?: number } = {},
): Promise<Harness> {
  const emu = await startJiraEmulator({
    webhookTimeScale: opts.webhookTimeScale ?? 0.0001,
    seed: opts.seed ?? testSeed(),
    searchLagMs: opts.searchLagMs,
  });
  const client = (email: string, token: string): Version3Client =>
    new Version3Client({ host: emu.url, authentication: { basic: { email, apiToken: token } } });
  return {
    emu,
    control: new EmulatorControl(emu.url),
    bot: client(BOT.email, BOT.token),
    alice: client(ALICE.email, ALICE.token),
    client,
    close: () => emu.close(),
  };
}

/** A one-paragraph ADF document, typed so jira.js accepts it as its `Document`. */
export function adf(text: string): {
  type: 'doc';
  version: number;
  content: { type: string; content: { type: string; text: string }[] }[];
} {
  return { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] };
}

/** Runs `fn`, expects jira.js to throw an HttpException, and returns status, body and headers. */
export async function failure(
  fn: () => Promise<unknown>,
): Promise<{ status: number; body: unknown; headers: Record<string, string> }> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof HttpException)) throw e;
    const cause = e.cause as { response?: { headers?: Record<string, string>; data?: unknown } } | undefined;
    return { status: e.status, body: cause?.response?.data, headers: cause?.response?.headers ?? {} };
  }
  throw new Error('expected the call to fail');
}

export interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: Record<string, unknown>;
}

/**
 * A webhook receiver on 127.0.0.1 that keeps each request's raw bytes. `statuses` are answered in
 * order (then 200), so a test can make the first attempts fail.
 */
export async function receiver(statuses: number[] = []): Promise<{
  url: string;
  received: Received[];
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  const queue = [...statuses];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      received.push({
        headers: req.headers,
        raw,
        body: JSON.parse(raw.toString('utf8')) as Record<string, unknown>,
      });
      res.writeHead(queue.shift() ?? 200);
      res.end();
    });
  });
  clientClosesIdleConnections(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/jira`;
  return {
    url,
    received,
    async waitFor(n, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > until) throw new Error(`waiting for ${n} webhooks: got ${received.length}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return received;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Registers an admin webhook through jira.js's transport (the endpoint is not in the v3 client). */
export function registerWebhook(
  client: Version3Client,
  data: { name: string; url: string; events: string[]; filters?: Record<string, string>; secret?: string },
): Promise<{ self: string; events: string[]; filters: Record<string, string> }> {
  return client.sendRequest({ url: '/rest/webhooks/1.0/webhook', method: 'POST', data }, undefined as never);
}
