import { Module, type DynamicModule } from '@nestjs/common';

import type { Logger } from '@lifeline/observability';
import { ServiceCoreModule } from '@lifeline/service-kit';

import { BillingSystemModule } from './billing-system/billing-system.module.js';
import { ChargeModule } from './charge/charge.module.js';
import type { BillingConfig } from './config/billing.config.js';
import { billingDatabase } from './database.js';

@Module({})
export class AppModule {
  static forRoot(config: BillingConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceCoreModule.forRoot({
          service: 'billing',
          version: config.version,
          natsUrl: config.nats.url,
          natsPrefix: config.nats.prefix,
          logger,
          database: billingDatabase(config),
        }),
        BillingSystemModule.forRoot(config.billing),
        ChargeModule,
      ],
    };
  }
}
