import { createLogger } from '@lifeline/observability';
import { bootstrapService } from '@lifeline/service-kit';

import { AppModule } from './app.module.js';
import { loadBillingConfig } from './config/billing.config.js';

const config = loadBillingConfig();
const logger = createLogger({ service: 'billing', level: config.log.level });

await bootstrapService({
  service: 'billing',
  module: AppModule.forRoot(config, logger),
  logger,
  http: config.http,
  consumes: true,
});
