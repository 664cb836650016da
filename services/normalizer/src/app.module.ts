import { Module, type DynamicModule } from '@nestjs/common';

import type { Logger } from '@lifeline/observability';
import { ServiceCoreModule } from '@lifeline/service-kit';

import type { NormalizerConfig } from './config/normalizer.config.js';
import { NORMALIZER_CONFIG } from './config/normalizer-config.token.js';
import { normalizerDatabase } from './database.js';
import { NormalizeModule } from './normalize/normalize.module.js';

@Module({})
class NormalizerConfigModule {}

@Module({})
export class AppModule {
  static forRoot(config: NormalizerConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceCoreModule.forRoot({
          service: 'normalizer',
          version: config.version,
          natsUrl: config.nats.url,
          natsPrefix: config.nats.prefix,
          logger,
          database: normalizerDatabase(config),
        }),
        { module: NormalizerConfigModule, global: true, providers: [{ provide: NORMALIZER_CONFIG, useValue: config }], exports: [NORMALIZER_CONFIG] },
        NormalizeModule,
      ],
    };
  }
}
