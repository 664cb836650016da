import { Module, type DynamicModule } from '@nestjs/common';

import {
  EHR_CLIENT_OPTIONS,
  EhrClient,
  type EhrClientOptions,
} from './ehr.client.js';

/** The EHR inbox adapter, global: one configured client for every feature that delivers messages. */
@Module({})
export class EhrModule {
  static forRoot(options: EhrClientOptions): DynamicModule {
    return {
      module: EhrModule,
      global: true,
      providers: [
        { provide: EHR_CLIENT_OPTIONS, useValue: options },
        EhrClient,
      ],
      exports: [EhrClient],
    };
  }
}
