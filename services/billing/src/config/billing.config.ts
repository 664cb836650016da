import { z } from 'zod';

import {
  COMMON_ENV,
  DATABASE_ENV,
  loadConfig,
  mapCommon,
  type CommonConfig,
} from '@lifeline/config';

const schema = z.object({
  ...COMMON_ENV,
  ...DATABASE_ENV,
  /** Billing API root, e.g. http://127.0.0.1:3100/billing (the client appends /charges). */
  BILLING_BASE_URL: z.url({ protocol: /^https?$/ }),
  /** Per request; a slower answer counts as unavailable and is retried with the same key. */
  BILLING_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
});

export interface BillingConfig extends CommonConfig {
  db: { url: string; poolSize: number };
  billing: { baseUrl: string; timeoutMs: number };
}

export function loadBillingConfig(
  env?: Record<string, string | undefined>,
): BillingConfig {
  return loadConfig({
    service: 'billing',
    schema,
    env,
    map: (e) => ({
      ...mapCommon(e),
      db: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE },
      billing: {
        baseUrl: e.BILLING_BASE_URL.replace(/\/+$/, ''),
        timeoutMs: e.BILLING_TIMEOUT_MS,
      },
    }),
  });
}
