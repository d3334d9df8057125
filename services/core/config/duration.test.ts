import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { durationOrOffSchema, formatDuration, parseDuration } from './duration.ts';

describe('durations', () => {
  it('reads a number and a unit, repeated', () => {
    const cases: [string, number | null][] = [
      ['6h', 6 * 3_600_000],
      ['30m', 30 * 60_000],
      ['1h30m', 90 * 60_000],
      ['45s', 45_000],
      ['500ms', 500],
      ['1d', 86_400_000],
      ['2d12h', 60 * 3_600_000],
      [' 6h ', 6 * 3_600_000],
      ['6', null],
      ['h', null],
      ['6 h', null],
      ['6hours', null],
      ['-1h', null],
      ['1.5h', null],
      ['', null],
    ];
    for (const [v, want] of cases) assert.equal(parseDuration(v), want, JSON.stringify(v));
  });

  it('formats back to the shortest spelling it reads', () => {
    for (const ms of [500, 1000, 90 * 60_000, 6 * 3_600_000, 86_400_000 + 1000])
      assert.equal(parseDuration(formatDuration(ms)), ms);
    assert.equal(formatDuration(90 * 60_000), '1h30m');
    assert.equal(formatDuration(6 * 3_600_000), '6h');
  });

  it('a setting: a duration at least the minimum, or off (null); each problem says what it got', () => {
    const s = durationOrOffSchema(1000);
    assert.equal(s.parse('6h'), 6 * 3_600_000);
    assert.equal(s.parse('off'), null);
    const bad = (v: unknown) => s.safeParse(v).error?.issues.map((i) => i.message);
    assert.deepEqual(bad('soon'), [
      'expected a duration such as 30s, 15m, 6h, 1h30m or 1d, or off, got "soon"',
    ]);
    assert.deepEqual(bad('500ms'), ['must be at least 1s, got 500ms']);
    assert.equal(s.safeParse(6).success, false, 'a number of milliseconds is not a duration');
  });
});
