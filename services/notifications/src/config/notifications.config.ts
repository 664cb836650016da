import { z } from 'zod';

import {
  COMMON_ENV,
  DATABASE_ENV,
  downstreamGuardEnv,
  loadConfig,
  mapDownstreamGuard,
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
  ...downstreamGuardEnv('EHR', { ratePerSecond: 20, maxConcurrency: 4 }),
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
        protection: mapDownstreamGuard('EHR', e),
      },
    }),
  });
}
