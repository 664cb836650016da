import { Module, type DynamicModule } from '@nestjs/common';

import type { Logger } from '@lifeline/observability';
import { ServiceCoreModule } from '@lifeline/service-kit';

import { INGEST_GATEWAY_CONFIG, type IngestGatewayConfig } from './config/ingest-gateway.config.js';
import { MllpModule } from './mllp/mllp.module.js';

@Module({})
export class AppModule {
  static forRoot(config: IngestGatewayConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceCoreModule.forRoot({ service: 'ingest-gateway', version: config.version, natsUrl: config.nats.url, natsPrefix: config.nats.prefix, logger }),
        { module: ConfigHolder, global: true, providers: [{ provide: INGEST_GATEWAY_CONFIG, useValue: config }], exports: [INGEST_GATEWAY_CONFIG] },
        MllpModule,
      ],
    };
  }
}

@Module({})
class ConfigHolder {}
