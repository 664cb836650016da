import { describe, expect, it } from '@jest/globals';

import { AppError, errorKindOf, isAppError } from '@lifeline/errors';

import { DEFAULT_RETRY_POLICY, decideAck } from '../retry-policy.js';
import { CircuitBreaker } from './circuit-breaker.util.js';
import { DownstreamGuard, downstreamRefusal, type DownstreamClock } from './downstream-guard.util.js';
import { ConcurrencyLimiter, TokenBucket } from './rate-limiter.util.js';

/** Manual clock: time moves only when the test (or a guarded sleep) moves it. */
function fakeClock(start = 1_000_000): DownstreamClock & { advance(ms: number): void; slept: number[] } {
  let t = start;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: (ms) => {
      slept.push(ms);
      t += ms;
      return Promise.resolve();
    },
    advance: (ms) => {
      t += ms;
    },
    slept,
  };
}

const down = () => Promise.reject(new AppError({ code: 'LIS_UNAVAILABLE', retryable: true, message: 'down' }));
const up = () => Promise.resolve('ok');

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, not on N failures with a success between', () => {
    const clock = fakeClock();
    const breaker = new CircuitBreaker({ failureThreshold: 3, openMs: 5_000, now: clock.now });
    breaker.onFailure(false);
    breaker.onFailure(false);
    breaker.onSuccess(false);
    breaker.onFailure(false);
    breaker.onFailure(false);
    expect(breaker.state).toBe('closed');
    breaker.onFailure(false);
    expect(breaker.state).toBe('open');
    expect(breaker.tryAcquire()).toEqual({ allowed: false, retryAfterMs: 5_000 });
  });

  it('opens on the error rate over the window once enough calls were seen', () => {
    const clock = fakeClock();
    const breaker = new CircuitBreaker({
      failureThreshold: 100,
      openMs: 1_000,
      errorRate: { threshold: 0.5, windowSize: 10, minimumCalls: 6 },
      now: clock.now,
    });
    for (const ok of [true, false, true, false, true]) {
      if (ok) breaker.onSuccess(false);
      else breaker.onFailure(false);
    }
    expect(breaker.state).toBe('closed'); // 2/5, and fewer than minimumCalls
    breaker.onFailure(false); // 3/6 = 50 %
    expect(breaker.state).toBe('open');
  });

  it('goes half-open after openMs and lets exactly one probe through', () => {
    const clock = fakeClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 2_000, now: clock.now });
    breaker.onFailure(false);
    clock.advance(1_999);
    expect(breaker.tryAcquire()).toEqual({ allowed: false, retryAfterMs: 1 });
    clock.advance(1);
    expect(breaker.state).toBe('half-open');
    expect(breaker.tryAcquire()).toEqual({ allowed: true, probe: true });
    expect(breaker.tryAcquire()).toEqual({ allowed: false, retryAfterMs: 2_000 });
  });

  it('reopens for another openMs on a failed probe and closes on a successful one', () => {
    const clock = fakeClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 2_000, now: clock.now });
    breaker.onFailure(false);
    clock.advance(2_000);
    breaker.tryAcquire();
    breaker.onFailure(true);
    expect(breaker.state).toBe('open');
    clock.advance(2_000);
    expect(breaker.tryAcquire()).toEqual({ allowed: true, probe: true });
    breaker.onSuccess(true);
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()).toEqual({ allowed: true, probe: false });
  });
});

describe('TokenBucket', () => {
  it('allows the burst, then one call per 1/rate, refusing beyond the wait bound', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 2, now: clock.now });
    expect(bucket.reserve()).toEqual({ granted: true, waitMs: 0 });
    expect(bucket.reserve()).toEqual({ granted: true, waitMs: 0 });
    expect(bucket.reserve(50)).toEqual({ granted: false, retryAfterMs: 100 });
    expect(bucket.reserve(100)).toEqual({ granted: true, waitMs: 100 });
    // the next token is booked too: the following caller waits behind it
    expect(bucket.reserve(150)).toEqual({ granted: false, retryAfterMs: 200 });
    clock.advance(200);
    expect(bucket.reserve()).toEqual({ granted: true, waitMs: 0 });
  });

  it('never accumulates more than the burst and refunds unused tokens', () => {
    const clock = fakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 1, now: clock.now });
    clock.advance(60_000);
    expect(bucket.reserve().granted).toBe(true);
    expect(bucket.reserve().granted).toBe(false);
    bucket.refund();
    expect(bucket.reserve().granted).toBe(true);
  });
});

describe('ConcurrencyLimiter', () => {
  it('admits up to max and frees a slot on leave', () => {
    const slots = new ConcurrencyLimiter(2);
    expect([slots.tryEnter(), slots.tryEnter(), slots.tryEnter()]).toEqual([true, true, false]);
    slots.leave();
    expect(slots.tryEnter()).toBe(true);
    expect(() => new ConcurrencyLimiter(0)).toThrow();
  });
});

describe('DownstreamGuard', () => {
  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    return downstreamRefusal(err);
  };

  it('opens after consecutive failures and refuses without calling, with retryAfterMs', async () => {
    const clock = fakeClock();
    const guard = new DownstreamGuard({ target: 'test-a', breaker: { enabled: true, failureThreshold: 2, openMs: 3_000 }, clock });
    let called = 0;
    const failing = () => {
      called++;
      return down();
    };
    await expect(guard.run(failing)).rejects.toMatchObject({ code: 'LIS_UNAVAILABLE' });
    await expect(guard.run(failing)).rejects.toMatchObject({ code: 'LIS_UNAVAILABLE' });
    clock.advance(1_000);
    expect(await refusal(guard.run(failing))).toEqual({ code: 'DOWNSTREAM_CIRCUIT_OPEN', retryAfterMs: 2_000 });
    expect(called).toBe(2);
    expect(guard.state).toBe('open');
  });

  it('throws a retryable downstream-unavailable error that pauses without consuming attempts', async () => {
    const clock = fakeClock();
    const guard = new DownstreamGuard({ target: 'test-b', breaker: { enabled: true, failureThreshold: 1, openMs: 60_000 }, clock });
    await guard.run(down).catch(() => undefined);
    const err = await guard.run(up).catch((e: unknown) => e);
    expect(isAppError(err, 'DOWNSTREAM_CIRCUIT_OPEN') && err.retryable).toBe(true);
    expect(errorKindOf(err)).toBe('downstream-unavailable');
    // however often the message comes back while the breaker is open, it is never dead-lettered
    const decision = decideAck({ error: err, deliveryCount: 500, policy: { ...DEFAULT_RETRY_POLICY, maxAttempts: 5 } });
    expect(decision).toMatchObject({ action: 'nak', countsAgainstBudget: false });
  });

  it('half-open: one probe per open period reaches a destination that stays down, then it closes on success', async () => {
    const clock = fakeClock();
    const guard = new DownstreamGuard({ target: 'test-c', breaker: { enabled: true, failureThreshold: 1, openMs: 1_000 }, clock });
    let reached = 0;
    const failing = () => {
      reached++;
      return down();
    };
    // 10 s of an outage, offered 10 calls per second
    for (let i = 0; i < 100; i++) {
      await guard.run(failing).catch(() => undefined);
      clock.advance(100);
    }
    expect(reached).toBe(10); // the first failure, then one probe per second
    clock.advance(1_000);
    await expect(guard.run(up)).resolves.toBe('ok');
    expect(guard.state).toBe('closed');
  });

  it('does not count business answers (non-retryable errors) against the destination', async () => {
    const guard = new DownstreamGuard({ target: 'test-d', breaker: { enabled: true, failureThreshold: 1, openMs: 1_000 }, clock: fakeClock() });
    const rejected = () => Promise.reject(new AppError({ code: 'LIS_REQUEST_INVALID', retryable: false, message: 'no' }));
    await guard.run(rejected).catch(() => undefined);
    expect(guard.state).toBe('closed');
  });

  it('waits briefly for a token, refuses with DOWNSTREAM_RATE_LIMITED beyond maxWaitMs', async () => {
    const clock = fakeClock();
    const guard = new DownstreamGuard({ target: 'test-e', ratePerSecond: 5, burst: 1, maxWaitMs: 100, clock });
    await guard.run(up);
    // the next token is 200 ms away, longer than the caller may wait: refused at once
    expect(await refusal(guard.run(up))).toEqual({ code: 'DOWNSTREAM_RATE_LIMITED', retryAfterMs: 200 });
    clock.advance(150);
    await expect(guard.run(up)).resolves.toBe('ok');
    expect(clock.slept).toEqual([50]);
  });

  it('caps calls in flight', async () => {
    const guard = new DownstreamGuard({ target: 'test-f', maxConcurrency: 1, clock: fakeClock() });
    let release: () => void = () => undefined;
    const slow = guard.run(() => new Promise<string>((r) => (release = () => r('done'))));
    expect((await refusal(guard.run(up)))?.code).toBe('DOWNSTREAM_RATE_LIMITED');
    release();
    await expect(slow).resolves.toBe('done');
    await expect(guard.run(up)).resolves.toBe('ok');
  });

  it('negative control: with the breaker disabled every call reaches the failing destination', async () => {
    const clock = fakeClock();
    const guard = new DownstreamGuard({ target: 'test-g', breaker: { enabled: false, failureThreshold: 1, openMs: 1_000 }, clock });
    let reached = 0;
    for (let i = 0; i < 50; i++) {
      await guard
        .run(() => {
          reached++;
          return down();
        })
        .catch(() => undefined);
      clock.advance(100);
    }
    expect(reached).toBe(50);
  });
});
