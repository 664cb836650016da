import type { DatabaseDefinition } from '@lifeline/service-kit';

import type { BillingConfig } from './config/billing.config.js';
import { CreateCharges1764000000700 } from './migrations/1764000000700-charges.migration.js';

export function billingDatabase(config: BillingConfig): DatabaseDefinition {
  return {
    url: config.db.url,
    poolSize: config.db.poolSize,
    migrations: [CreateCharges1764000000700],
  };
}
