import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FIRST_RUN_MAX_DELAY_MS, nextRunDelay, RETRY_BASE_MS } from './verify-schedule.ts';
import { resultOf, summarize } from './verify-runs.ts';
import type { VerifyReport } from './verify.ts';

const H = 3_600_000;
const NOW = Date.parse('2026-12-03T12:00:00Z');

describe('scheduled verify: when the next run is due', () => {
  it('every verifyEvery after the last scheduled run started (any replica’s)', () => {
    assert.equal(
      nextRunDelay({ everyMs: 6 * H, lastStartedMs: NOW - 2 * H, nowMs: NOW, failures: 0 }),
      4 * H,
    );
    assert.equal(nextRunDelay({ everyMs: 6 * H, lastStartedMs: NOW - 7 * H, nowMs: NOW, failures: 0 }), 0);
  });

  it('no run recorded: soon after start, within a minute, never later than verifyEvery', () => {
    assert.equal(
      nextRunDelay({ everyMs: 6 * H, lastStartedMs: null, nowMs: NOW, failures: 0 }),
      FIRST_RUN_MAX_DELAY_MS,
    );
    assert.equal(nextRunDelay({ everyMs: 2000, lastStartedMs: null, nowMs: NOW, failures: 0 }), 2000);
  });

  it('after incomplete or failed runs: sooner, doubling from 30 s, at most verifyEvery', () => {
    const after = (failures: number, everyMs = 6 * H) =>
      nextRunDelay({ everyMs, lastStartedMs: NOW, nowMs: NOW, failures });
    assert.deepEqual(
      [1, 2, 3, 4].map((f) => after(f)),
      [RETRY_BASE_MS, 2 * RETRY_BASE_MS, 4 * RETRY_BASE_MS, 8 * RETRY_BASE_MS],
    );
    assert.equal(after(40), 6 * H, 'capped at verifyEvery, and no overflow for a long outage');
    assert.equal(after(1, 5000), 5000);
  });
});

const report = (over: Partial<VerifyReport>): VerifyReport => ({
  flows: ['eng'],
  links: { checked: 3, pending: 0, closed: 0 },
  drift: [],
  missing: [],
  waiting: [],
  unlinked: [],
  errors: [],
  repair: null,
  durationMs: 10,
  ...over,
});

describe('a verify run’s summary (metrics and the report)', () => {
  it('counts each moved side of a drifted field, each missing record, each unlinked item', () => {
    const side = (platform: string, moved: boolean) => ({
      platform,
      entityId: `${platform}-1`,
      entityKey: null,
      value: 'x',
      moved,
    });
    const r = report({
      drift: [
        {
          linkId: 'l1',
          flowId: 'eng',
          kind: 'issue',
          field: 'title',
          base: 'a',
          sides: [side('alpha', true), side('beta', true)],
          moved: ['alpha', 'beta'],
        },
        {
          linkId: 'l2',
          flowId: 'eng',
          kind: 'issue',
          field: 'priority',
          base: 'low',
          sides: [side('alpha', false), side('beta', true)],
          moved: ['beta'],
        },
      ],
      missing: [
        {
          linkId: 'l3',
          flowId: 'eng',
          kind: 'issue',
          platform: 'alpha',
          entityId: 'a3',
          entityKey: null,
          detail: 'gone',
        },
      ],
      unlinked: [
        { flowId: 'eng', platform: 'beta', workspace: 'B', entityId: 'b9', entityKey: 'B-9', title: 't' },
      ],
      repair: { published: 4, events: [] },
    });
    const s = summarize(r);
    assert.deepEqual(s.findings, [
      { flow: 'eng', platform: 'alpha', kind: 'field', count: 1 },
      { flow: 'eng', platform: 'alpha', kind: 'missing', count: 1 },
      { flow: 'eng', platform: 'beta', kind: 'field', count: 2 },
      { flow: 'eng', platform: 'beta', kind: 'unlinked', count: 1 },
    ]);
    assert.deepEqual([s.drift, s.missing, s.unlinked, s.repairPublished], [2, 1, 1, 4]);
    assert.deepEqual(s.sample[0], { flow: 'eng', linkId: 'l1', field: 'title', moved: ['alpha', 'beta'] });
    assert.equal(resultOf(r), 'drift');
  });

  it('the result follows the exit code: read errors make it incomplete; nothing found is in step', () => {
    assert.equal(resultOf(report({})), 'in_step');
    assert.equal(
      resultOf(report({ errors: [{ linkId: 'l', platform: 'alpha', message: '503' }] })),
      'incomplete',
    );
    const s = summarize(report({ unlinked: null }));
    assert.equal(s.unlinked, null, 'no scan is not the same as none found');
    assert.equal(s.repairPublished, null);
  });
});
