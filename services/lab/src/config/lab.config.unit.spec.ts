import { describe, expect, it } from '@jest/globals';

import { loadLabConfig } from './lab.config.js';

const BASE = { DATABASE_URL: 'postgres://localhost/lab', LIS_BASE_URL: 'http://127.0.0.1:3100/lis' };

describe('loadLabConfig: LIS protection', () => {
  it('defaults to a breaker on, with a rate limit and concurrency cap', () => {
    expect(loadLabConfig(BASE).lis.protection).toEqual({
      breakerEnabled: true,
      breakerFailures: 5,
      breakerOpenMs: 30_000,
      ratePerSecond: 50,
      maxConcurrency: 8,
    });
  });

  it('maps the LIS_* keys', () => {
    const { protection } = loadLabConfig({
      ...BASE,
      LIS_BREAKER_ENABLED: 'false',
      LIS_BREAKER_FAILURES: '3',
      LIS_BREAKER_OPEN_MS: '1000',
      LIS_RATE_PER_S: '0.5',
      LIS_MAX_CONCURRENCY: '2',
    }).lis;
    expect(protection).toEqual({ breakerEnabled: false, breakerFailures: 3, breakerOpenMs: 1_000, ratePerSecond: 0.5, maxConcurrency: 2 });
  });

  it('names every invalid key at boot', () => {
    expect(() =>
      loadLabConfig({ ...BASE, LIS_BREAKER_ENABLED: 'maybe', LIS_BREAKER_FAILURES: '0', LIS_RATE_PER_S: '0', LIS_MAX_CONCURRENCY: '1.5', LIS_BREAKER_OPEN_MS: '10' }),
    ).toThrow(/LIS_BREAKER_ENABLED.*LIS_BREAKER_FAILURES.*LIS_BREAKER_OPEN_MS.*LIS_RATE_PER_S.*LIS_MAX_CONCURRENCY/s);
  });
});
