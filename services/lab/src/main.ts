import { createLogger } from '@lifeline/observability';
import { bootstrapService } from '@lifeline/service-kit';

import { AppModule } from './app.module.js';
import { loadLabConfig } from './config/lab.config.js';

const config = loadLabConfig();
const logger = createLogger({ service: 'lab', level: config.log.level });

await bootstrapService({
  service: 'lab',
  module: AppModule.forRoot(config, logger),
  logger,
  http: config.http,
  consumes: true,
  statusTable: { LAB_ORDER_NOT_FOUND: 404 },
});
