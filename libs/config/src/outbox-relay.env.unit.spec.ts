import { describe, expect, it } from '@jest/globals';

import { outboxRelayEnv } from './outbox-relay.env.js';

describe('outboxRelayEnv', () => {
  it('gives one linked send span per relay batch by default', () => {
    expect(outboxRelayEnv('orders', {})).toEqual({ spans: 'batch' });
  });

  it('reads OUTBOX_RELAY_SPANS', () => {
    expect(outboxRelayEnv('orders', { OUTBOX_RELAY_SPANS: 'message' })).toEqual({ spans: 'message' });
  });

  it('refuses a bad value, naming the key', () => {
    expect(() => outboxRelayEnv('orders', { OUTBOX_RELAY_SPANS: 'none' })).toThrow(/orders: invalid configuration: OUTBOX_RELAY_SPANS/);
  });
});
