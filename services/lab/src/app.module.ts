import { Module, type DynamicModule } from '@nestjs/common';

import type { Logger } from '@lifeline/observability';
import { ServiceCoreModule } from '@lifeline/service-kit';

import type { LabConfig } from './config/lab.config.js';
import { labDatabase } from './database.js';
import { LabOrderModule } from './lab-order/lab-order.module.js';
import { LisModule } from './lis/lis.module.js';
import { ResultModule } from './result/result.module.js';

@Module({})
export class AppModule {
  static forRoot(config: LabConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceCoreModule.forRoot({
          service: 'lab',
          version: config.version,
          natsUrl: config.nats.url,
          natsPrefix: config.nats.prefix,
          logger,
          database: labDatabase(config),
        }),
        LisModule.forRoot(config.lis),
        LabOrderModule,
        ResultModule,
      ],
    };
  }
}
