import { Module, type DynamicModule } from '@nestjs/common';

import type { Logger } from '@lifeline/observability';
import { ServiceCoreModule } from '@lifeline/service-kit';

import type { NotificationsConfig } from './config/notifications.config.js';
import { notificationsDatabase } from './database.js';
import { EhrModule } from './ehr/ehr.module.js';
import { NotificationModule } from './notification/notification.module.js';

@Module({})
export class AppModule {
  static forRoot(config: NotificationsConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceCoreModule.forRoot({
          service: 'notifications',
          version: config.version,
          natsUrl: config.nats.url,
          natsPrefix: config.nats.prefix,
          logger,
          database: notificationsDatabase(config),
        }),
        EhrModule.forRoot(config.ehr),
        NotificationModule,
      ],
    };
  }
}
