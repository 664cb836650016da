import { Module, type DynamicModule } from '@nestjs/common';

import type { Logger } from '@lifeline/observability';
import { ServiceCoreModule } from '@lifeline/service-kit';

import type { OrdersConfig } from './config/orders.config.js';
import { ordersDatabase } from './database.js';
import { OrderModule } from './order/order.module.js';

@Module({})
export class AppModule {
  static forRoot(config: OrdersConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceCoreModule.forRoot({
          service: 'orders',
          version: config.version,
          natsUrl: config.nats.url,
          natsPrefix: config.nats.prefix,
          logger,
          database: ordersDatabase(config),
        }),
        OrderModule,
      ],
    };
  }
}
