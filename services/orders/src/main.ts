import { createLogger } from '@lifeline/observability';
import { bootstrapService } from '@lifeline/service-kit';

import { AppModule } from './app.module.js';
import { loadOrdersConfig } from './config/orders.config.js';

const config = loadOrdersConfig();
const logger = createLogger({ service: 'orders', level: config.log.level });

await bootstrapService({
  service: 'orders',
  module: AppModule.forRoot(config, logger),
  logger,
  http: config.http,
  consumes: true,
  statusTable: { ORDER_NOT_FOUND: 404 },
});
