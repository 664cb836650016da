import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';

import { BillingModule } from './billing/billing.module.js';
import type { ExternalSimConfig } from './config/external-sim.config.js';
import { ControlModule } from './control/control.module.js';
import { EhrModule } from './ehr/ehr.module.js';
import { ExchangeModule } from './exchange/exchange.module.js';
import { HealthModule } from './health/health.module.js';
import { OperationOutcomeFilter } from './http/operation-outcome-filter.util.js';
import { LisModule } from './lis/lis.module.js';

// Config is loaded before Nest boots (main.ts) and passed in, so tests can pass their own.
@Module({})
export class AppModule {
  static register(config: ExternalSimConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ExchangeModule.register(config),
        LisModule,
        EhrModule,
        BillingModule,
        ControlModule,
        HealthModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: OperationOutcomeFilter }],
    };
  }
}
