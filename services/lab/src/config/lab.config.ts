import { z } from 'zod';

import {
  COMMON_ENV,
  DATABASE_ENV,
  loadConfig,
  mapCommon,
  type CommonConfig,
} from '@lifeline/config';
import type { DownstreamProtection } from '@lifeline/messaging';

const schema = z.object({
  ...COMMON_ENV,
  ...DATABASE_ENV,
  /** LIS order API root, e.g. http://127.0.0.1:3100/lis (the client appends /orders). */
  LIS_BASE_URL: z.url({ protocol: /^https?$/ }),
  /** Per request; a slower LIS answer counts as unavailable and the command is retried with the same key. */
  LIS_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /** Off only as a negative control: every command then calls a LIS that is down. */
  LIS_BREAKER_ENABLED: z.stringbool().default(true),
  /** Consecutive LIS failures (timeouts, 5xx, 429) that open the breaker. */
  LIS_BREAKER_FAILURES: z.coerce.number().int().min(1).max(1_000).default(5),
  /** How long the breaker stays open; also the half-open probe interval while the LIS stays down. */
  LIS_BREAKER_OPEN_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  LIS_RATE_PER_S: z.coerce.number().positive().max(10_000).default(50),
  LIS_MAX_CONCURRENCY: z.coerce.number().int().min(1).max(1_000).default(8),
});

export interface LabConfig extends CommonConfig {
  db: { url: string; poolSize: number };
  lis: {
    baseUrl: string;
    timeoutMs: number;
    protection: DownstreamProtection;
  };
}

export function loadLabConfig(
  env?: Record<string, string | undefined>,
): LabConfig {
  return loadConfig({
    service: 'lab',
    schema,
    env,
    map: (e) => ({
      ...mapCommon(e),
      db: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE },
      lis: {
        baseUrl: e.LIS_BASE_URL.replace(/\/+$/, ''),
        timeoutMs: e.LIS_TIMEOUT_MS,
        protection: {
          breakerEnabled: e.LIS_BREAKER_ENABLED,
          breakerFailures: e.LIS_BREAKER_FAILURES,
          breakerOpenMs: e.LIS_BREAKER_OPEN_MS,
          ratePerSecond: e.LIS_RATE_PER_S,
          maxConcurrency: e.LIS_MAX_CONCURRENCY,
        },
      },
    }),
  });
}
