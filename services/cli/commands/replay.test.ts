import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { replayPlan } from './replay.ts';

const NOW = Date.UTC(2026, 11, 3, 6, 0, 0);

describe('replay arguments', () => {
  it('a real replay needs a starting point, one only', () => {
    assert.throws(() => replayPlan({ wait: 0 }, NOW), /give the starting point/);
    assert.throws(
      () => replayPlan({ wait: 0, from: '2h', fromBeginning: true }, NOW),
      /--from <time> or --from-beginning, not both/,
    );
    assert.deepEqual(replayPlan({ wait: 0, fromBeginning: true }, NOW), {
      kind: 'move',
      fromMs: null,
      config: undefined,
    });
    assert.deepEqual(replayPlan({ wait: 0, from: '2h', config: 'a.yaml' }, NOW), {
      kind: 'move',
      fromMs: NOW - 2 * 3_600_000,
      config: 'a.yaml',
    });
  });

  it('refuses a time in the future or that is no time', () => {
    assert.throws(() => replayPlan({ wait: 0, from: '2027-01-01T00:00:00Z' }, NOW), /is in the future/);
    assert.throws(() => replayPlan({ wait: 0, from: 'soon' }, NOW), /--from must be a duration/);
  });

  it('--flow and --current are for the dry run only', () => {
    assert.throws(
      () => replayPlan({ wait: 0, fromBeginning: true, flow: 'eng' }, NOW),
      /--flow works with --dry-run only/,
    );
    assert.throws(
      () => replayPlan({ wait: 0, fromBeginning: true, current: 'a.yaml' }, NOW),
      /--current is for --dry-run only/,
    );
  });

  it('a dry run needs the new configuration, and takes --from and --flow', () => {
    assert.throws(() => replayPlan({ wait: 0, dryRun: true }, NOW), /--config <new.yaml>/);
    assert.deepEqual(
      replayPlan({ wait: 0, dryRun: true, config: 'new.yaml', flow: 'eng', from: '30m' }, NOW),
      { kind: 'dry-run', fromMs: NOW - 30 * 60_000, flow: 'eng', next: 'new.yaml', current: undefined },
    );
  });
});
