import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgress, formatSeconds, progressLine, snapshot, type ProgressStream } from './progress.ts';

/** A stream that keeps what was written, as a terminal (`isTTY`) or a pipe. */
function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream: ProgressStream = { isTTY, columns: 200, write: (c: string) => chunks.push(c) };
  return { stream, chunks };
}

test('rate and ETA come from the phase: no ETA without a total or before any progress', () => {
  const s = { phase: 'pair', counts: { paired: 50 }, done: 50, total: 200 };
  const snap = snapshot(s, 30_000, 10_000);
  assert.equal(snap.rate, 5);
  assert.equal(snap.etaS, 30);
  assert.equal(snap.elapsedS, 30);
  assert.equal(snapshot({ ...s, total: undefined }, 30_000, 10_000).etaS, null);
  assert.equal(snapshot({ ...s, done: 0 }, 30_000, 10_000).etaS, null);
});

test('the terminal line has the bar, the counts, the rate and the ETA', () => {
  const line = progressLine(
    'backfill',
    snapshot({ phase: 'pair', counts: { scanned: 400, paired: 100 }, done: 100, total: 200 }, 20_000, 10_000),
    10,
  );
  assert.equal(line, 'backfill pair [#####·····] 100/200 50% · 400 scanned, 100 paired · 10.0/s · ETA 10 s');
  const scan = progressLine(
    'backfill',
    snapshot({ phase: 'scan', counts: { scanned: 30 }, done: 30 }, 3000, 3000),
  );
  assert.equal(scan, 'backfill scan · 30 scanned · 10.0/s');
  assert.equal(formatSeconds(125), '2 min 5 s');
  assert.equal(formatSeconds(7260), '2 h 1 min');
});

test('on a pipe: JSON lines at most once per interval, a new phase and finish always', () => {
  let t = 0;
  const { stream, chunks } = sink(false);
  const p = createProgress('backfill', { json: false, stream, intervalMs: 1000, now: () => t });
  p.update({ phase: 'scan', counts: { scanned: 1 }, done: 1 });
  t = 500;
  p.update({ phase: 'scan', counts: { scanned: 2 }, done: 2 });
  t = 1200;
  p.update({ phase: 'scan', counts: { scanned: 3 }, done: 3 });
  t = 1300;
  p.update({ phase: 'pair', counts: { scanned: 3 }, done: 0, total: 2 });
  p.finish();
  const lines = chunks.map((c) => JSON.parse(c) as { progress: { phase: string; done: number } });
  assert.deepEqual(
    lines.map((l) => `${l.progress.phase}:${l.progress.done}`),
    ['scan:1', 'scan:3', 'pair:0', 'pair:0'],
  );
  assert.ok(chunks.every((c) => c.endsWith('\n')));
});

test('on a terminal: one line redrawn in place, ended at each phase and at the finish', () => {
  let t = 0;
  const { stream, chunks } = sink(true);
  const p = createProgress('backfill', { json: false, stream, intervalMs: 0, now: () => t });
  p.update({ phase: 'scan', counts: { scanned: 1 }, done: 1 });
  t = 1000;
  p.update({ phase: 'scan', counts: { scanned: 5 }, done: 5 });
  p.update({ phase: 'pair', counts: { paired: 0 }, done: 0, total: 5 });
  p.finish();
  const out = chunks.join('');
  assert.ok(out.startsWith('\rbackfill scan · 1 scanned'), out);
  assert.equal(
    out.split('\n').length - 1,
    2,
    `a newline after scan and after the finish: ${JSON.stringify(out)}`,
  );
  assert.ok(out.includes('backfill pair [') && out.includes('0/5 0%'), out);
  // --json forces JSON lines even on a terminal.
  const j = sink(true);
  const q = createProgress('backfill', { json: true, stream: j.stream, now: () => 0 });
  q.update({ phase: 'scan', counts: {}, done: 0 });
  assert.ok(j.chunks[0]?.startsWith('{"progress":'), j.chunks[0]);
});
