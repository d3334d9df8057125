/**
 * Test helpers for the Asana emulator tests: SDK clients built the way PLATFORMS.md shows (own
 * ApiClient, basePath overridden), and a webhook receiver that answers Asana's handshake and
 * verifies signatures with its own HMAC, independent of the emulator's code.
 */
import Asana from 'asana';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EmulatorControl } from '../common/control-client.ts';
import { AsanaControl, DEMO_TOKENS, demoSeed, startAsanaEmulator } from './index.ts';
import { clientClosesIdleConnections } from '../common/keep-alive.ts';

export const seed = demoSeed();
export const WS = seed.workspaces[0]!.gid;
export const PROJECT = seed.projects[0]!.gid;
export const SECTIONS = Object.fromEntries(seed.projects[0]!.sections!.map((s) => [s.name, s.gid]));
export const USERS = Object.fromEntries(seed.users.map((u) => [u.name.split(' ')[0]!.toLowerCase(), u.gid]));
export { DEMO_TOKENS };

export function sdk(apiUrl: string, token: string) {
  const client = new Asana.ApiClient();
  client.basePath = apiUrl;
  client.authentications['token'].accessToken = token;
  return {
    client,
    tasks: new Asana.TasksApi(client),
    stories: new Asana.StoriesApi(client),
    webhooks: new Asana.WebhooksApi(client),
    events: new Asana.EventsApi(client),
    users: new Asana.UsersApi(client),
    sections: new Asana.SectionsApi(client),
    projects: new Asana.ProjectsApi(client),
    workspaces: new Asana.WorkspacesApi(client),
    memberships: new Asana.MembershipsApi(client),
    tags: new Asana.TagsApi(client),
  };
}

export async function startSeeded(webhookTimeScale = 0.00001) {
  const emu = await startAsanaEmulator({ webhookTimeScale, seed: demoSeed() });
  return {
    emu,
    control: new EmulatorControl(emu.url),
    asana: new AsanaControl(emu.url),
    bot: sdk(emu.apiUrl, DEMO_TOKENS.bot),
    alice: sdk(emu.apiUrl, DEMO_TOKENS.alice),
    bob: sdk(emu.apiUrl, DEMO_TOKENS.bob),
  };
}

/** What an SDK call rejected with: superagent's error carries status, headers and the body. */
export interface SdkError {
  status: number;
  /** Set by superagent when the client's own timeout fired. */
  timeout?: number;
  response: {
    headers: Record<string, string>;
    body: { errors: { message: string; help?: string; phrase?: string }[]; sync?: string };
  };
}

export async function rejection(p: Promise<unknown>): Promise<SdkError> {
  try {
    await p;
  } catch (e) {
    return e as SdkError;
  }
  throw new Error('expected the SDK call to reject');
}

/** The top-level members of a list response beside `data` (the SDK keeps the body on a Collection's `_response`). */
export function pageMeta(collection: object): {
  sync: string;
  has_more: boolean;
  next_page: { offset: string; path: string; uri: string } | null;
} {
  return Reflect.get(collection, '_response') as ReturnType<typeof pageMeta>;
}

export interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: { events: Record<string, unknown>[] };
}

/**
 * A webhook target: echoes X-Hook-Secret on the handshake, remembers the secret, and records
 * every later delivery with its raw body. `answer` decides the status of each delivery.
 */
export class Receiver {
  secret: string | null = null;
  handshakes = 0;
  readonly deliveries: Received[] = [];
  answer: (n: number) => number = () => 200;
  echoSecret = true;
  private server: Server | null = null;
  private waiters: (() => void)[] = [];
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const hs = req.headers['x-hook-secret'];
        if (typeof hs === 'string') {
          this.handshakes++;
          this.secret = hs;
          res.writeHead(200, this.echoSecret ? { 'X-Hook-Secret': hs } : {});
          res.end();
          return;
        }
        const n = this.deliveries.length;
        this.deliveries.push({
          headers: req.headers,
          raw,
          body: JSON.parse(raw.toString('utf8')) as Received['body'],
        });
        res.writeHead(this.answer(n));
        res.end();
        for (const w of this.waiters.splice(0)) w();
      });
    });
    clientClosesIdleConnections(this.server);
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/asana`;
    return this;
  }

  async waitFor(count: number, timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.deliveries.length < count) {
      if (Date.now() > until)
        throw new Error(`waiting for ${count} deliveries: got ${this.deliveries.length}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  events(): Record<string, unknown>[] {
    return this.deliveries.flatMap((d) => d.body.events);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** Asana's documented algorithm, written here on its own: hex HMAC-SHA256 of the raw body, keyed with the handshake secret. */
export function verifyAsanaSignature(
  secret: string,
  raw: Buffer,
  header: string | string[] | undefined,
): boolean {
  if (typeof header !== 'string' || !/^[0-9a-f]{64}$/.test(header)) return false;
  const expected = createHmac('sha256', secret).update(raw).digest();
  return timingSafeEqual(expected, Buffer.from(header, 'hex'));
}
