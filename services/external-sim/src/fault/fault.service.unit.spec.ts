import { describe, expect, it } from '@jest/globals';

import { FaultService } from './fault.service.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

describe('FaultService', () => {
  it('applies a counted fault to the next N requests of its target only', () => {
    const faults = new FaultService();
    faults.add({ target: 'lis', mode: 'fail', count: 2 }, T0);

    expect(
      faults.take({ target: 'ehr', path: '/ehr/inbox/messages' }, T0),
    ).toBeUndefined();
    expect(
      faults.take({ target: 'lis', path: '/lis/orders' }, T0)?.status,
    ).toBe(503);
    expect(
      faults.take({ target: 'lis', path: '/lis/orders' }, T0)?.remaining,
    ).toBe(0);
    expect(
      faults.take({ target: 'lis', path: '/lis/orders' }, T0),
    ).toBeUndefined();
    expect(faults.list(T0)).toEqual([]);
  });

  it('applies a timed fault until it expires', () => {
    const faults = new FaultService();
    faults.add({ target: 'ehr', mode: 'throttle', untilMs: 1_000 }, T0);

    expect(
      faults.take({ target: 'ehr', path: '/ehr/inbox/messages' }, T0 + 999)
        ?.mode,
    ).toBe('throttle');
    expect(
      faults.take({ target: 'ehr', path: '/ehr/inbox/messages' }, T0 + 1_000),
    ).toBeUndefined();
  });

  it('matches a path prefix and otherwise applies the first fault added', () => {
    const faults = new FaultService();
    faults.add(
      { target: 'lis', mode: 'reject', pathPrefix: '/lis/orders/' },
      T0,
    );
    faults.add({ target: 'lis', mode: 'slow', delayMs: 10 }, T0);

    expect(faults.take({ target: 'lis', path: '/lis/orders' }, T0)?.mode).toBe(
      'slow',
    );
    expect(
      faults.take({ target: 'lis', path: '/lis/orders/L1/cancel' }, T0)?.mode,
    ).toBe('reject');
  });

  it('keeps an uncounted, untimed fault until cleared', () => {
    const faults = new FaultService();
    faults.add({ target: 'billing', mode: 'timeout' }, T0);

    expect(
      faults.take({ target: 'billing', path: '/billing/charges' }, T0 + 1e9)
        ?.mode,
    ).toBe('timeout');
    faults.clear();
    expect(
      faults.take({ target: 'billing', path: '/billing/charges' }, T0),
    ).toBeUndefined();
  });
});
