import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LockstepError } from '../errors/index.ts';
import { backoffDelay, retry } from './backoff.ts';
import { CircuitBreaker, type BreakerState } from './circuit-breaker.ts';
import { RateBudget } from './rate-budget.ts';

/** A clock tests move by hand; `sleep` advances it instead of waiting. */
function fakeClock(start = 1_000_000) {
  let t = start;
  const slept: number[] = [];
  return {
    now: () => t,
    advance: (ms: number) => (t += ms),
    slept,
    sleep: async (ms: number) => {
      slept.push(ms);
      t += ms;
    },
  };
}

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, jittered below the ceiling', () => {
    const top = () => 0.999999;
    assert.equal(backoffDelay(0, { baseMs: 100, maxMs: 5000, random: top }), 99);
    assert.equal(backoffDelay(3, { baseMs: 100, maxMs: 5000, random: top }), 799);
    assert.equal(backoffDelay(10, { baseMs: 100, maxMs: 5000, random: top }), 4999);
    assert.equal(backoffDelay(3, { baseMs: 100, maxMs: 5000, random: () => 0 }), 0);
  });

  it('never goes below Retry-After', () => {
    assert.equal(backoffDelay(0, { baseMs: 100, maxMs: 5000, random: () => 0.5 }, 2000), 2000);
  });
});

describe('retry', () => {
  it('retries retriable errors only, and stops at maxAttempts', async () => {
    const clock = fakeClock();
    let calls = 0;
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw new LockstepError('calling platform', { category: 'network' });
        },
        { baseMs: 10, maxMs: 100, maxAttempts: 4, sleep: clock.sleep, random: () => 0.5 },
      ),
      /calling platform/,
    );
    assert.equal(calls, 4);
    assert.equal(clock.slept.length, 3);
  });

  it('does not retry validation errors or programmer errors', async () => {
    for (const err of [
      new LockstepError('writing', { category: 'validation' }),
      new TypeError('x is undefined'),
    ]) {
      let calls = 0;
      await assert.rejects(
        retry(
          async () => {
            calls++;
            throw err;
          },
          { baseMs: 1, maxMs: 1, maxAttempts: 5, sleep: async () => {} },
        ),
      );
      assert.equal(calls, 1);
    }
  });

  it('waits at least Retry-After before the next attempt', async () => {
    const clock = fakeClock();
    let calls = 0;
    const result = await retry(
      async () => {
        if (calls++ === 0) throw new LockstepError('calling', { category: 'rate_limit', retryAfterMs: 1500 });
        return 'ok';
      },
      { baseMs: 10, maxMs: 100, maxAttempts: 3, sleep: clock.sleep, random: () => 0.1 },
    );
    assert.equal(result, 'ok');
    assert.deepEqual(clock.slept, [1500]);
  });
});

describe('RateBudget', () => {
  it('lets a burst through, then paces at the published rate', async () => {
    const clock = fakeClock();
    const b = new RateBudget({ limit: 2, perMs: 1000, now: clock.now, sleep: clock.sleep });
    await b.acquire();
    await b.acquire();
    assert.deepEqual(clock.slept, []);
    await b.acquire();
    assert.deepEqual(clock.slept, [500]);
  });

  it('reports its headroom: the share of the burst left and the wait a Retry-After imposes', async () => {
    const clock = fakeClock();
    const b = new RateBudget({ limit: 4, perMs: 1000, now: clock.now, sleep: clock.sleep });
    assert.deepEqual(b.headroom(), { ratio: 1, waitMs: 0 });
    await b.acquire();
    await b.acquire();
    assert.deepEqual(b.headroom(), { ratio: 0.5, waitMs: 0 });
    b.observe({ retryAfterMs: 2000 });
    assert.equal(b.headroom().waitMs, 2000);
  });

  it('holds every request until Retry-After has passed', async () => {
    const clock = fakeClock();
    const b = new RateBudget({ limit: 100, perMs: 1000, now: clock.now, sleep: clock.sleep });
    const start = clock.now();
    b.observe({ retryAfterMs: 3000 });
    await b.acquire();
    assert.ok(clock.now() - start >= 3000);
  });

  it('spreads what the platform says is left over the time to its reset when that is slower than our rate', async () => {
    const clock = fakeClock();
    const b = new RateBudget({ limit: 100, perMs: 1000, burst: 1, now: clock.now, sleep: clock.sleep });
    await b.acquire();
    // 10 left for the next 10 s: one a second, not our 100 a second.
    b.observe({ remaining: 10, resetAtMs: clock.now() + 10_000 });
    await b.acquire();
    assert.ok(clock.slept.reduce((a, x) => a + x, 0) >= 990, `waited ${clock.slept.join('+')} ms`);
    // After the reset our own rate applies again.
    clock.advance(10_000);
    clock.slept.length = 0;
    await b.acquire();
    await b.acquire();
    assert.ok(clock.slept.reduce((a, x) => a + x, 0) <= 10, `waited ${clock.slept.join('+')} ms`);
  });

  it('trusts the platform when it says the window is spent', async () => {
    const clock = fakeClock();
    const b = new RateBudget({ limit: 100, perMs: 60_000, now: clock.now, sleep: clock.sleep });
    b.observe({ remaining: 0, resetAtMs: clock.now() + 7000 });
    await b.acquire();
    assert.ok(clock.slept.reduce((a, x) => a + x, 0) >= 7000);
  });
});

describe('CircuitBreaker', () => {
  it('opens after the threshold, half-opens after openMs, closes on success', () => {
    const clock = fakeClock();
    const states: BreakerState[] = [];
    const cb = new CircuitBreaker({
      failureThreshold: 3,
      openMs: 1000,
      now: clock.now,
      onStateChange: (s) => states.push(s),
    });
    cb.failure();
    cb.failure();
    assert.equal(cb.allows(), true);
    cb.failure();
    assert.equal(cb.allows(), false);
    assert.equal(cb.remainingOpenMs(), 1000);
    clock.advance(1000);
    assert.equal(cb.current(), 'half_open');
    cb.failure();
    assert.equal(cb.current(), 'open');
    clock.advance(1000);
    cb.success();
    assert.equal(cb.current(), 'closed');
    assert.deepEqual(states, ['open', 'half_open', 'open', 'half_open', 'closed']);
  });
});
