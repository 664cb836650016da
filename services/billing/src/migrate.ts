import { runServiceMigrations } from '@lifeline/service-kit';

import { loadBillingConfig } from './config/billing.config.js';
import { billingDatabase } from './database.js';

await runServiceMigrations('billing', billingDatabase(loadBillingConfig()));
