import { describe, expect, it } from '@jest/globals';

import { AppError, errorKindOf, type ErrorKind } from '@lifeline/errors';

import {
  DEFAULT_POLICY_SET,
  backoffCap,
  backoffDelay,
  decideAck,
  policySetFrom,
  type AttemptRecord,
  type PolicySet,
  type RetryPolicy,
} from './retry-policy.js';

const policy: RetryPolicy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000, jitter: 'full' };
const transient = new AppError({ code: 'DOWNSTREAM_UNAVAILABLE', retryable: true, message: 'lis down' });
const permanent = new AppError({ code: 'PAYLOAD_INVALID', retryable: false, message: 'bad' });
const ofKind = (kind: ErrorKind) => new AppError({ code: `E_${kind.toUpperCase()}`, retryable: kind !== 'validation', kind, message: kind });
const history = (kind: ErrorKind, n: number): AttemptRecord[] =>
  Array.from({ length: n }, (_, i) => ({ at: new Date(i).toISOString(), deliveryCount: i + 1, kind }));

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

describe('errorKindOf', () => {
  it('keeps retryable working: true without a kind is transient, false is validation, non-AppError unknown', () => {
    expect(errorKindOf(transient)).toBe('transient');
    expect(errorKindOf(permanent)).toBe('validation');
    expect(errorKindOf(new TypeError('x'))).toBe('unknown');
    expect(errorKindOf(ofKind('throttled'))).toBe('throttled');
  });
});

describe('decideAck (legacy single policy)', () => {
  it('acks success', () => {
    expect(decideAck({ deliveryCount: 1, policy })).toEqual({ action: 'ack' });
  });

  it('naks a retryable error with a delay while attempts remain', () => {
    const d = decideAck({ error: transient, deliveryCount: 2, policy, random: () => 0.5 });
    expect(d).toEqual({
      action: 'nak',
      delayMs: 100,
      errorClass: 'transient',
      kind: 'transient',
      code: 'DOWNSTREAM_UNAVAILABLE',
      attempt: 2,
      countsAgainstBudget: true,
    });
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
      kind: 'validation',
    });
  });

  it('retries an unknown error without echoing its message', () => {
    const d = decideAck({ error: new TypeError('patient Jane Doe'), deliveryCount: 1, policy, random: () => 0 });
    expect(d).toMatchObject({ action: 'nak', errorClass: 'unknown', code: 'UNKNOWN' });
    const last = decideAck({ error: new TypeError('patient Jane Doe'), deliveryCount: 4, policy });
    expect(JSON.stringify(last)).not.toContain('Jane');
  });
});

describe('decideAck (policy set per error kind)', () => {
  const set: PolicySet = DEFAULT_POLICY_SET;

  it('maps every kind of the taxonomy to its action', () => {
    const actions = (['transient', 'throttled', 'downstream-unavailable', 'validation', 'poison', 'unauthorized', 'unknown'] as const).map((k) => {
      const d = decideAck({ error: ofKind(k), deliveryCount: 1, policies: set, history: [], random: () => 0.5 });
      return d.action === 'nak' ? (d.countsAgainstBudget ? 'retry' : 'pause') : d.action === 'dead-letter' ? d.reason : d.action;
    });
    expect(actions).toEqual(['retry', 'retry', 'pause', 'permanent', 'permanent', 'escalate', 'retry']);
  });

  it('counts the budget per kind from the history, not from the delivery count', () => {
    const budget = set.classes.throttled.maxAttempts;
    // many pauses before: delivery count is high, but throttled attempts are few → still retried
    const mixed = [...history('downstream-unavailable', 20), ...history('throttled', budget - 2)];
    expect(decideAck({ error: ofKind('throttled'), deliveryCount: 40, policies: set, history: mixed })).toMatchObject({
      action: 'nak',
      attempt: budget - 1,
    });
    const exhausted = [...history('throttled', budget - 1)];
    expect(decideAck({ error: ofKind('throttled'), deliveryCount: budget, policies: set, history: exhausted })).toMatchObject({
      action: 'dead-letter',
      reason: 'attempts-exhausted',
      attempt: budget,
    });
  });

  it('pauses a downstream outage with a long delay that never consumes the budget', () => {
    const d = decideAck({ error: ofKind('downstream-unavailable'), deliveryCount: 500, policies: set, history: history('downstream-unavailable', 499), random: () => 0 });
    expect(d).toMatchObject({ action: 'nak', countsAgainstBudget: false });
    expect(d.action === 'nak' && d.delayMs).toBeGreaterThanOrEqual(set.classes['downstream-unavailable'].maxDelayMs / 2);
  });

  it('follows exponential backoff with full jitter per attempt of the kind', () => {
    const fullSet = policySetFrom({ maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 10_000, jitter: 'full' });
    const delays = [0, 1, 2, 3].map((n) => {
      const d = decideAck({ error: transient, deliveryCount: n + 1, policies: fullSet, history: history('transient', n), random: () => 0.999 });
      return d.action === 'nak' ? d.delayMs : -1;
    });
    expect(delays).toEqual([99, 199, 399, 799]);
  });

  it('pauses for the breaker\'s retry-after hint when it gives one, capped by the class maximum', () => {
    const refusal = (retryAfterMs: number) =>
      new AppError({ code: 'DOWNSTREAM_CIRCUIT_OPEN', retryable: true, kind: 'downstream-unavailable', message: 'open', details: { retryAfterMs } });
    expect(decideAck({ error: refusal(4_000), deliveryCount: 1, policies: set, history: [] })).toMatchObject({ action: 'nak', delayMs: 4_000, countsAgainstBudget: false });
    const cap = set.classes['downstream-unavailable'].maxDelayMs;
    expect(decideAck({ error: refusal(cap * 10), deliveryCount: 1, policies: set, history: [] })).toMatchObject({ delayMs: cap });
  });
});
