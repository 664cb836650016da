import { describe, expect, it } from '@jest/globals';

import { consumerLeasesEnv } from './consumer-leases.env.js';

describe('consumerLeasesEnv', () => {
  it('is off by default, with a TTL above the default ack wait', () => {
    expect(consumerLeasesEnv('orders', {})).toEqual({ enabled: false, ttlMs: 35_000 });
  });

  it('reads CONSUMER_LEASES and CONSUMER_LEASE_TTL_MS', () => {
    expect(consumerLeasesEnv('orders', { CONSUMER_LEASES: 'on', CONSUMER_LEASE_TTL_MS: '45000' })).toEqual({ enabled: true, ttlMs: 45_000 });
  });

  it('refuses a bad value, naming the key', () => {
    expect(() => consumerLeasesEnv('orders', { CONSUMER_LEASES: 'yes' })).toThrow(/orders: invalid configuration: CONSUMER_LEASES/);
    expect(() => consumerLeasesEnv('orders', { CONSUMER_LEASE_TTL_MS: '10' })).toThrow(/CONSUMER_LEASE_TTL_MS/);
  });
});
