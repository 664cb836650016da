import { describe, expect, it } from '@jest/globals';

import { AppError } from '@lifeline/errors';

import { backoffCap, backoffDelay, decideAck, type RetryPolicy } from './retry-policy.js';

const policy: RetryPolicy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000, jitter: 'full' };
const transient = new AppError({ code: 'DOWNSTREAM_UNAVAILABLE', retryable: true, message: 'lis down' });
const permanent = new AppError({ code: 'PAYLOAD_INVALID', retryable: false, message: 'bad' });

describe('backoff', () => {
  it('doubles the cap per attempt up to the maximum', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffCap(policy, n))).toEqual([100, 200, 400, 800, 1_000]);
  });

  it('keeps full jitter within [0, cap] and equal jitter within [cap/2, cap]', () => {
    for (const r of [0, 0.5, 0.999]) {
      expect(backoffDelay(policy, 3, () => r)).toBeGreaterThanOrEqual(0);
      expect(backoffDelay(policy, 3, () => r)).toBeLessThanOrEqual(400);
      const equal = backoffDelay({ ...policy, jitter: 'equal' }, 3, () => r);
      expect(equal).toBeGreaterThanOrEqual(200);
      expect(equal).toBeLessThanOrEqual(400);
    }
  });
});

describe('decideAck', () => {
  it('acks success', () => {
    expect(decideAck({ deliveryCount: 1, policy })).toEqual({ action: 'ack' });
  });

  it('naks a retryable error with a delay while attempts remain', () => {
    const d = decideAck({ error: transient, deliveryCount: 2, policy, random: () => 0.5 });
    expect(d).toEqual({ action: 'nak', delayMs: 100, errorClass: 'transient', code: 'DOWNSTREAM_UNAVAILABLE' });
  });

  it('dead-letters a retryable error on the last attempt', () => {
    const d = decideAck({ error: transient, deliveryCount: 4, policy });
    expect(d).toMatchObject({ action: 'dead-letter', reason: 'attempts-exhausted', code: 'DOWNSTREAM_UNAVAILABLE' });
  });

  it('dead-letters a non-retryable error at once', () => {
    expect(decideAck({ error: permanent, deliveryCount: 1, policy })).toMatchObject({
      action: 'dead-letter',
      reason: 'permanent',
      errorClass: 'permanent',
    });
  });

  it('retries an unknown error without echoing its message', () => {
    const d = decideAck({ error: new TypeError('patient Jane Doe'), deliveryCount: 1, policy, random: () => 0 });
    expect(d).toMatchObject({ action: 'nak', errorClass: 'unknown', code: 'UNKNOWN' });
    const last = decideAck({ error: new TypeError('patient Jane Doe'), deliveryCount: 4, policy });
    expect(JSON.stringify(last)).not.toContain('Jane');
  });
});
