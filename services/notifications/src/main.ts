import { createLogger } from '@lifeline/observability';
import { bootstrapService } from '@lifeline/service-kit';

import { AppModule } from './app.module.js';
import { loadNotificationsConfig } from './config/notifications.config.js';

const config = loadNotificationsConfig();
const logger = createLogger({
  service: 'notifications',
  level: config.log.level,
});

await bootstrapService({
  service: 'notifications',
  module: AppModule.forRoot(config, logger),
  logger,
  http: config.http,
  consumes: true,
});
