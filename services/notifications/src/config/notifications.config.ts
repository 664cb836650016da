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
  /** EHR API root, e.g. http://127.0.0.1:3100/ehr (the client appends /inbox/messages). */
  EHR_INBOX_BASE_URL: z.url({ protocol: /^https?$/ }),
  /** Per request; a slower EHR answer counts as unavailable and the command is retried with the same key. */
  EHR_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /** Off only as a negative control: every command then calls an EHR inbox that is down. */
  EHR_BREAKER_ENABLED: z.stringbool().default(true),
  /** Consecutive EHR failures (timeouts, 5xx, 429) that open the breaker. */
  EHR_BREAKER_FAILURES: z.coerce.number().int().min(1).max(1_000).default(5),
  /** How long the breaker stays open; also the half-open probe interval while the EHR stays down. */
  EHR_BREAKER_OPEN_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  EHR_RATE_PER_S: z.coerce.number().positive().max(10_000).default(20),
  EHR_MAX_CONCURRENCY: z.coerce.number().int().min(1).max(1_000).default(4),
});

export interface NotificationsConfig extends CommonConfig {
  db: { url: string; poolSize: number };
  ehr: {
    baseUrl: string;
    timeoutMs: number;
    protection: DownstreamProtection;
  };
}

export function loadNotificationsConfig(
  env?: Record<string, string | undefined>,
): NotificationsConfig {
  return loadConfig({
    service: 'notifications',
    schema,
    env,
    map: (e) => ({
      ...mapCommon(e),
      db: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE },
      ehr: {
        baseUrl: e.EHR_INBOX_BASE_URL.replace(/\/+$/, ''),
        timeoutMs: e.EHR_TIMEOUT_MS,
        protection: {
          breakerEnabled: e.EHR_BREAKER_ENABLED,
          breakerFailures: e.EHR_BREAKER_FAILURES,
          breakerOpenMs: e.EHR_BREAKER_OPEN_MS,
          ratePerSecond: e.EHR_RATE_PER_S,
          maxConcurrency: e.EHR_MAX_CONCURRENCY,
        },
      },
    }),
  });
}
