import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter } from 'prom-client';
import { createHttpServer, shutdownGracefully } from './index.ts';

test('healthz, readyz with named checks, draining, and metrics over a real socket', async () => {
  const server = createHttpServer({ host: '127.0.0.1', port: 0, checkTimeoutMs: 200 });
  let kafkaUp = true;
  server.addReadinessCheck('kafka', () => {
    if (!kafkaUp) throw new Error('broker unreachable');
  });
  server.addReadinessCheck('slow', () => new Promise((r) => setTimeout(r, 10)));
  new Counter({ name: 'lockstep_test_total', help: 'test', registers: [server.metrics] }).inc(3);
  const { port } = await server.listen();
  const base = `http://127.0.0.1:${port}`;
  try {
    assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { status: 'ok' });

    let res = await fetch(`${base}/readyz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      status: 'ready',
      checks: { kafka: { ok: true }, slow: { ok: true } },
    });

    kafkaUp = false;
    res = await fetch(`${base}/readyz`);
    assert.equal(res.status, 503);
    assert.deepEqual(((await res.json()) as { checks: unknown }).checks, {
      kafka: { ok: false, error: 'broker unreachable' },
      slow: { ok: true },
    });

    server.addReadinessCheck('hang', () => new Promise(() => {}));
    kafkaUp = true;
    res = await fetch(`${base}/readyz`);
    assert.equal(res.status, 503);
    assert.match(JSON.stringify(await res.json()), /"hang":\{"ok":false,"error":"timed out after 200 ms"\}/);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^lockstep_test_total 3$/m);
    assert.match(metrics, /^process_cpu_user_seconds_total /m);

    server.addReadinessCheck('hang', () => {});
    server.setDraining();
    res = await fetch(`${base}/readyz`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { status: string }).status, 'draining');
  } finally {
    await server.close();
  }
  await assert.rejects(fetch(`${base}/healthz`));
});

test('shutdownGracefully runs every step in order, reports failures and timeouts', async () => {
  const order: string[] = [];
  const failed = await shutdownGracefully(
    [
      { name: 'stop consumers', run: () => void order.push('stop') },
      {
        name: 'broken',
        run: () => {
          throw new Error('x');
        },
      },
      { name: 'hangs', run: () => new Promise(() => {}) },
    ],
    { timeoutMs: 100 },
  );
  assert.deepEqual(order, ['stop']);
  assert.deepEqual(failed, ['broken', 'hangs']);
  const after = await shutdownGracefully([{ name: 'close pool', run: () => void order.push('close') }]);
  assert.deepEqual(after, []);
  assert.deepEqual(order, ['stop', 'close']);
});

test('a second SIGTERM during the drain does not kill the process (down signals the group, the supervisor passes it on)', async () => {
  const { spawn } = await import('node:child_process');
  const server = new URL('./server.ts', import.meta.url).pathname;
  // A process whose drain takes 1 s and says when it is done; it tells us when its handler is set.
  const script = `
    const { onTerminate } = await import(${JSON.stringify(server)});
    onTerminate(async () => { await new Promise((r) => setTimeout(r, 1000)); process.stdout.write('drained\\n'); return []; });
    process.stdout.write('ready\\n');
    setInterval(() => undefined, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const ready = new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    }),
  );
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  await ready;
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGTERM');
  assert.deepEqual(
    await exited,
    { code: 0, signal: null },
    `the process was killed mid-drain; stdout: ${out}`,
  );
  assert.match(out, /drained/);
});
