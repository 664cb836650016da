import { describe, expect, it } from '@jest/globals';

import { loadNotificationsConfig } from './notifications.config.js';

const BASE = { DATABASE_URL: 'postgres://localhost/notifications', EHR_INBOX_BASE_URL: 'http://127.0.0.1:3100/ehr' };

describe('loadNotificationsConfig: EHR inbox protection', () => {
  it('maps the EHR_* keys over the defaults', () => {
    expect(loadNotificationsConfig(BASE).ehr.protection).toEqual({
      breakerEnabled: true,
      breakerFailures: 5,
      breakerOpenMs: 30_000,
      ratePerSecond: 20,
      maxConcurrency: 4,
    });
    expect(loadNotificationsConfig({ ...BASE, EHR_BREAKER_ENABLED: 'false', EHR_RATE_PER_S: '5' }).ehr.protection).toMatchObject({
      breakerEnabled: false,
      ratePerSecond: 5,
    });
  });

  it('rejects invalid values at boot', () => {
    expect(() => loadNotificationsConfig({ ...BASE, EHR_BREAKER_FAILURES: '0', EHR_MAX_CONCURRENCY: '0' })).toThrow(
      /EHR_BREAKER_FAILURES.*EHR_MAX_CONCURRENCY/s,
    );
  });
});
