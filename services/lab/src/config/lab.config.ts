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
  /** LIS order API root, e.g. http://127.0.0.1:3100/lis (the client appends /orders). */
  LIS_BASE_URL: z.url({ protocol: /^https?$/ }),
  /** Per request; a slower LIS answer counts as unavailable and the command is retried with the same key. */
  LIS_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  ...downstreamGuardEnv('LIS', { ratePerSecond: 50, maxConcurrency: 8 }),
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
        protection: mapDownstreamGuard('LIS', e),
      },
    }),
  });
}
