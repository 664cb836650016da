import { CreateEventStore1764000000001 } from '@lifeline/event-store';
import type { DatabaseDefinition } from '@lifeline/service-kit';

import type { OrdersConfig } from './config/orders.config.js';
import { CreateOrderSummaries1764000000100 } from './migrations/1764000000100-order-summaries.migration.js';

export function ordersDatabase(config: OrdersConfig): DatabaseDefinition {
  return { url: config.db.url, poolSize: config.db.poolSize, migrations: [CreateEventStore1764000000001, CreateOrderSummaries1764000000100] };
}
