import type { DatabaseDefinition } from '@lifeline/service-kit';

import type { NotificationsConfig } from './config/notifications.config.js';
import { CreateDeliveries1764000000600 } from './migrations/1764000000600-deliveries.migration.js';
import { CreateDeliveryFailures1764000000610 } from './migrations/1764000000610-delivery-failures.migration.js';

export function notificationsDatabase(
  config: NotificationsConfig,
): DatabaseDefinition {
  return {
    url: config.db.url,
    poolSize: config.db.poolSize,
    migrations: [CreateDeliveries1764000000600, CreateDeliveryFailures1764000000610],
  };
}
