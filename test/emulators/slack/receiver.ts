/**
 * Test helper: a small HTTP server standing in for Lockstep's Events API endpoint. It keeps the
 * raw bytes of every request so signatures are checked against exactly what was sent.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { clientClosesIdleConnections } from '../common/keep-alive.ts';

export interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  json: Record<string, unknown>;
}

export interface Answer {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  delayMs?: number;
}

/** Decides the answer to each request; the default answers url_verification and 200s the rest. */
export type Behaviour = (r: Received, index: number) => Answer | undefined;

export interface Receiver {
  url: string;
  received: Received[];
  behaviour: Behaviour | null;
  /** Resolves when `n` event_callback requests have arrived (url_verification excluded). */
  waitForEvents(n: number, timeoutMs?: number): Promise<Received[]>;
  events(): Received[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const r: Received = {
        headers: req.headers,
        raw,
        json: JSON.parse(raw.toString('utf8')) as Record<string, unknown>,
      };
      received.push(r);
      const index = received.length - 1;
      for (const w of waiters.splice(0)) w();
      const custom = receiver.behaviour?.(r, index);
      const answer: Answer =
        custom ??
        (r.json['type'] === 'url_verification'
          ? { status: 200, headers: { 'content-type': 'text/plain' }, body: String(r.json['challenge']) }
          : { status: 200 });
      const reply = (): void => {
        if (res.destroyed) return;
        res.writeHead(answer.status ?? 200, answer.headers ?? {});
        res.end(answer.body ?? '');
      };
      if (answer.delayMs) setTimeout(reply, answer.delayMs);
      else reply();
    });
  });
  clientClosesIdleConnections(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const events = (): Received[] => received.filter((r) => r.json['type'] === 'event_callback');
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}/slack/events`,
    received,
    behaviour: null,
    events,
    async waitForEvents(n, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (events().length < n) {
        if (Date.now() > deadline) throw new Error(`waiting for ${n} events: got ${events().length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return events();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return receiver;
}

/**
 * Slack's documented signing algorithm, written independently of the emulator:
 * `v0=` + hex(HMAC-SHA256(signing secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body)).
 */
export function slackSignature(secret: string, timestamp: string, rawBody: Buffer | string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(rawBody).digest('hex')}`;
}

/** Verifies a received request as a Slack app must, including the 5-minute replay window. */
export function verifySlackRequest(
  secret: string,
  r: Received,
  nowSec = Math.floor(Date.now() / 1000),
): boolean {
  const ts = r.headers['x-slack-request-timestamp'];
  const sig = r.headers['x-slack-signature'];
  if (typeof ts !== 'string' || typeof sig !== 'string') return false;
  if (Math.abs(nowSec - Number(ts)) > 300) return false;
  const expected = Buffer.from(slackSignature(secret, ts, r.raw));
  const given = Buffer.from(sig);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
