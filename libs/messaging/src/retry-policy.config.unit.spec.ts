import { describe, expect, it } from '@jest/globals';

import { DEFAULT_POLICY_SET } from './retry-policy.js';
import { RetryPolicyConfigError, RetryPolicyResolver, loadRetryPoliciesConfig, parseRetryPoliciesConfig } from './retry-policy.config.js';

describe('retry policies as data', () => {
  it('merges defaults → service → consumer → message type, most specific last', () => {
    const config = parseRetryPoliciesConfig({
      defaults: { classes: { transient: { maxAttempts: 6 } } },
      services: { orders: { classes: { transient: { baseDelayMs: 1_000 } } } },
      consumers: { 'orders-order-placed': { classes: { transient: { maxAttempts: 8 } } } },
      messageTypes: { 'clinical.order.placed.v1': { classes: { unauthorized: { action: 'dead-letter' } }, park: false } },
    });
    const r = new RetryPolicyResolver(config);
    const consumerLevel = r.resolve({ service: 'orders', consumer: 'orders-order-placed' });
    expect(consumerLevel.classes.transient).toMatchObject({ maxAttempts: 8, baseDelayMs: 1_000, maxDelayMs: DEFAULT_POLICY_SET.classes.transient.maxDelayMs });
    expect(consumerLevel.classes.unauthorized.action).toBe('escalate');
    const typed = r.resolve({ service: 'orders', consumer: 'orders-order-placed', messageType: 'clinical.order.placed.v1' });
    expect(typed.classes.unauthorized.action).toBe('dead-letter');
    expect(typed.park).toBe(false);
    const other = r.resolve({ service: 'lab', consumer: 'lab-commands' });
    expect(other.classes.transient).toMatchObject({ maxAttempts: 6, baseDelayMs: 500 });
  });

  it("applies a consumer's policy to its stat twin, with the twin's own entry on top", () => {
    const config = parseRetryPoliciesConfig({
      consumers: {
        'orders-order-placed': { classes: { transient: { maxAttempts: 8, baseDelayMs: 1_000 } } },
        'orders-order-placed-stat': { classes: { transient: { baseDelayMs: 100 } } },
      },
    });
    const r = new RetryPolicyResolver(config);
    expect(r.resolve({ service: 'orders', consumer: 'orders-order-placed-stat' }).classes.transient).toMatchObject({ maxAttempts: 8, baseDelayMs: 100 });
    expect(r.resolve({ service: 'orders', consumer: 'orders-order-placed' }).classes.transient).toMatchObject({ maxAttempts: 8, baseDelayMs: 1_000 });
    const twinOnly = new RetryPolicyResolver(parseRetryPoliciesConfig({ consumers: { 'orders-order-placed': { classes: { transient: { maxAttempts: 9 } } } } }));
    expect(twinOnly.resolve({ service: 'orders', consumer: 'orders-order-placed-stat' }).classes.transient.maxAttempts).toBe(9);
  });

  it('parks orders, results and ADT by default, not other types', () => {
    const r = new RetryPolicyResolver();
    expect(r.resolve({ service: 'orders', consumer: 'c', messageType: 'clinical.order.placed.v1' }).park).toBe(true);
    expect(r.resolve({ service: 'orders', consumer: 'c', messageType: 'clinical.result.received.v1' }).park).toBe(true);
    expect(r.resolve({ service: 'orders', consumer: 'c', messageType: 'clinical.notification.delivered.v1' }).park).toBe(false);
  });

  it('rejects unknown kinds, actions and fields with their paths', () => {
    expect(() => parseRetryPoliciesConfig({ defaults: { classes: { flaky: { maxAttempts: 1 } } } })).toThrow(RetryPolicyConfigError);
    expect(() => parseRetryPoliciesConfig({ defaults: { classes: { transient: { action: 'pray' } } } })).toThrow(/defaults\.classes\.transient\.action/);
    expect(() => parseRetryPoliciesConfig({ defaults: { retries: 3 } })).toThrow(RetryPolicyConfigError);
  });

  it('rejects an inconsistent merged set at validation (boot)', () => {
    const r = new RetryPolicyResolver(parseRetryPoliciesConfig({ consumers: { c1: { classes: { transient: { baseDelayMs: 5_000, maxDelayMs: 10 } } } } }));
    expect(() => r.validate('orders', ['c0', 'c1'])).toThrow(/c1.*maxDelayMs < baseDelayMs/);
    const zero = new RetryPolicyResolver(parseRetryPoliciesConfig({ defaults: { classes: { unknown: { maxAttempts: 0 } } } }));
    expect(() => zero.validate('orders', ['c0'])).toThrow(/retry needs maxAttempts/);
  });

  it('loads from RETRY_POLICIES_FILE, then RETRY_POLICIES merged over it; invalid JSON fails', () => {
    const files: Record<string, string> = { '/etc/retry.json': JSON.stringify({ defaults: { classes: { transient: { maxAttempts: 3, baseDelayMs: 50 } } } }) };
    const config = loadRetryPoliciesConfig(
      { RETRY_POLICIES_FILE: '/etc/retry.json', RETRY_POLICIES: JSON.stringify({ defaults: { classes: { transient: { maxAttempts: 9 } } } }) },
      (p) => files[p] ?? '',
    );
    expect(config.defaults?.classes?.transient).toEqual({ maxAttempts: 9, baseDelayMs: 50 });
    expect(loadRetryPoliciesConfig({})).toEqual({});
    expect(() => loadRetryPoliciesConfig({ RETRY_POLICIES: '{nope' })).toThrow(/not valid JSON/);
  });
});
