import { runServiceMigrations } from '@lifeline/service-kit';

import { loadOrdersConfig } from './config/orders.config.js';
import { ordersDatabase } from './database.js';

await runServiceMigrations('orders', ordersDatabase(loadOrdersConfig()));
