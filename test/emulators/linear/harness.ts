/** Test helpers: an emulator with the demo workspace, SDK clients per person, a webhook receiver. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LinearClient } from '@linear/sdk';
import { EmulatorControl } from '../common/control-client.ts';
import { demoSeed, LINEAR_DEMO_TOKENS, startLinearEmulator } from './index.ts';
import { clientClosesIdleConnections } from '../common/keep-alive.ts';

export type Emu = Awaited<ReturnType<typeof startLinearEmulator>>;

export async function startDemo(opts: { requestsPerHour?: number; webhookTimeScale?: number } = {}): Promise<{
  emu: Emu;
  control: EmulatorControl;
  client: (who: keyof typeof LINEAR_DEMO_TOKENS | string) => LinearClient;
}> {
  const emu = await startLinearEmulator({ seed: demoSeed(), ...opts });
  return {
    emu,
    control: new EmulatorControl(emu.url),
    client: (who) =>
      new LinearClient({
        apiKey: who in LINEAR_DEMO_TOKENS ? LINEAR_DEMO_TOKENS[who as keyof typeof LINEAR_DEMO_TOKENS] : who,
        apiUrl: `${emu.url}/graphql`,
      }),
  };
}

export interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: Record<string, unknown>;
  atMs: number;
}

/** A small HTTP receiver that keeps the raw bytes of every delivery (signatures are over them). */
export async function startReceiver(respond: (n: number) => number = () => 200): Promise<{
  url: string;
  received: Received[];
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  let waiters: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      received.push({
        headers: req.headers,
        raw,
        body: JSON.parse(raw.toString('utf8')) as Record<string, unknown>,
        atMs: Date.now(),
      });
      res.statusCode = respond(received.length);
      res.end();
      for (const w of waiters) w();
    });
  });
  clientClosesIdleConnections(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks/linear`,
    received,
    async waitFor(n, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline)
          throw new Error(`waiting for ${n} webhook deliveries: got ${received.length} in ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
        waiters = [];
      }
      return received.slice(0, n);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
