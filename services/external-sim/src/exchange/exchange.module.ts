import { Global, Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';

import { EXTERNAL_SIM_CONFIG } from '../config/external-sim.config.js';
import type { ExternalSimConfig } from '../config/external-sim.config.js';
import { FaultService } from '../fault/fault.service.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { RecordingService } from '../recording/recording.service.js';
import { ExchangeService } from './exchange.service.js';

const SHARED = [
  RecordingService,
  FaultService,
  LifecycleService,
  ExchangeService,
];

/** The request pipeline and sim state every simulated target shares. */
@Global()
@Module({})
export class ExchangeModule {
  static register(config: ExternalSimConfig): DynamicModule {
    return {
      module: ExchangeModule,
      providers: [
        { provide: EXTERNAL_SIM_CONFIG, useValue: config },
        ...SHARED,
      ],
      exports: [EXTERNAL_SIM_CONFIG, ...SHARED],
    };
  }
}
