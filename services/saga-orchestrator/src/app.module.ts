import { Module, type DynamicModule } from '@nestjs/common';

import type { Logger } from '@lifeline/observability';
import { ServiceCoreModule } from '@lifeline/service-kit';

import type { SagaOrchestratorConfig } from './config/saga-orchestrator.config.js';
import { sagaOrchestratorDatabase } from './database.js';
import { SagaModule } from './saga/saga.module.js';

@Module({})
export class AppModule {
  static forRoot(config: SagaOrchestratorConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceCoreModule.forRoot({
          service: 'saga-orchestrator',
          version: config.version,
          natsUrl: config.nats.url,
          natsPrefix: config.nats.prefix,
          logger,
          database: sagaOrchestratorDatabase(config),
        }),
        SagaModule.register({
          deadlines: config.deadlines,
          deadlinePollMs: config.deadlinePollMs,
          unsafePublishCommandsDirectly: config.unsafePublishCommandsDirectly,
        }),
      ],
    };
  }
}
