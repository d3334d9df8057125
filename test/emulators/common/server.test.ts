/**
 * The emulator shell's connection handling: an idle keep-alive connection is the client's to
 * close. With Node's default (the server closes idle sockets after 5 s), a client that reused a
 * pooled socket as the server closed it got `socket hang up`; SDK calls in tests failed on it.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, it } from 'node:test';
import { startJiraEmulator } from '../jira/index.ts';
import type { RunningEmulator } from './server.ts';

let emu: RunningEmulator;
before(async () => {
  emu = await startJiraEmulator();
});
after(async () => {
  await emu?.close();
});

/** One request on `sock`; resolves with the status line, rejects if the server closes instead. */
function request(sock: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    if (sock.destroyed || sock.readableEnded)
      return reject(new Error('the emulator closed the idle keep-alive connection'));
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      // The shell answers with a chunked body: complete at the terminating zero-length chunk.
      if (got.includes('\r\n\r\n') && got.endsWith('\r\n0\r\n\r\n')) {
        cleanup();
        resolve(got.slice(0, got.indexOf('\r\n')));
      }
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`the emulator closed the keep-alive connection (got ${JSON.stringify(got)})`));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new Error(`the emulator reset the keep-alive connection: ${err.message}`));
    };
    const cleanup = () => {
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.off('error', onError);
    };
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.once('error', onError);
    sock.write('GET /_emulator/ledger HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
  });
}

it('keeps an idle keep-alive connection open past Node’s default 5 s keep-alive timeout', async () => {
  const sock = connect(emu.port, '127.0.0.1');
  await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
  try {
    assert.equal(await request(sock), 'HTTP/1.1 200 OK');
    // Node's default closes at 5 s + its 1 s buffer; idle past that, as a pooled SDK socket does
    // between two test steps.
    await new Promise((r) => setTimeout(r, 7000));
    assert.equal(await request(sock), 'HTTP/1.1 200 OK');
  } finally {
    sock.destroy();
  }
});

it('sends no Keep-Alive timeout hint, so clients keep their own (shorter) idle timeouts', async () => {
  const res = await fetch(`${emu.url}/_emulator/ledger`);
  await res.text();
  assert.equal(res.headers.get('keep-alive'), null);
  assert.equal(res.headers.get('connection'), 'keep-alive');
});

it('closes without waiting out the retry schedule of a webhook its receiver refused', async () => {
  // A receiver that refuses connections: a port taken by binding, then released.
  const refusing = createServer();
  await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
  const port = (refusing.address() as AddressInfo).port;
  await new Promise<void>((r) => refusing.close(() => r()));
  // Real time (scale 1): Jira's first retry would come 5 min after the refused attempt.
  const e = await startJiraEmulator({ webhookTimeScale: 1 });
  e.kit.webhooks.deliver('d-1', `http://127.0.0.1:${port}/hook`, () => ({ headers: {}, body: '{}' }));
  const refused = async () => e.kit.webhooks.log.some((d) => d.deliveryId === 'd-1' && d.attempt === 0);
  for (let i = 0; i < 100 && !(await refused()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(await refused(), 'the first delivery attempt was made and refused');
  const t = Date.now();
  await Promise.race([
    e.close(),
    new Promise((_, reject) =>
      setTimeout(
        () => reject(new Error('closing the emulator: still waiting on a webhook retry after 20 s')),
        20_000,
      ).unref(),
    ),
  ]);
  assert.ok(Date.now() - t < 20_000);
  assert.equal(e.kit.webhooks.log.filter((d) => d.deliveryId === 'd-1').length, 1, 'no retry after close');
});
