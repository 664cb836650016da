import { Module, type DynamicModule } from '@nestjs/common';

import { createDownstreamGuard } from '@lifeline/messaging';

import type { LabConfig } from '../config/lab.config.js';
import {
  LIS_CLIENT_OPTIONS,
  LisClient,
  type LisClientOptions,
} from './lis.client.js';

/** The LIS adapter, global: every feature that talks to the LIS shares one configured client. */
@Module({})
export class LisModule {
  static forRoot(config: LabConfig['lis']): DynamicModule {
    // One guard per process and destination: the breaker must see every call to the LIS.
    const options: LisClientOptions = {
      baseUrl: config.baseUrl,
      timeoutMs: config.timeoutMs,
      guard: createDownstreamGuard('lis', config.protection),
    };
    return {
      module: LisModule,
      global: true,
      providers: [
        { provide: LIS_CLIENT_OPTIONS, useValue: options },
        LisClient,
      ],
      exports: [LisClient],
    };
  }
}
