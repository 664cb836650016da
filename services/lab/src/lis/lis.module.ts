import { Module, type DynamicModule } from '@nestjs/common';

import {
  LIS_CLIENT_OPTIONS,
  LisClient,
  type LisClientOptions,
} from './lis.client.js';

/** The LIS adapter, global: every feature that talks to the LIS shares one configured client. */
@Module({})
export class LisModule {
  static forRoot(options: LisClientOptions): DynamicModule {
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
