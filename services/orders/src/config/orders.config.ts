import { z } from 'zod';

import { COMMON_ENV, DATABASE_ENV, loadConfig, mapCommon, type CommonConfig } from '@lifeline/config';

const schema = z.object({ ...COMMON_ENV, ...DATABASE_ENV });

export interface OrdersConfig extends CommonConfig {
  db: { url: string; poolSize: number };
}

export function loadOrdersConfig(env?: Record<string, string | undefined>): OrdersConfig {
  return loadConfig({
    service: 'orders',
    schema,
    env,
    map: (e) => ({ ...mapCommon(e), db: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE } }),
  });
}
