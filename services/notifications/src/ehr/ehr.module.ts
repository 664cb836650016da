import { Module, type DynamicModule } from '@nestjs/common';

import { createDownstreamGuard } from '@lifeline/messaging';

import type { NotificationsConfig } from '../config/notifications.config.js';
import {
  EHR_CLIENT_OPTIONS,
  EhrClient,
  type EhrClientOptions,
} from './ehr.client.js';

/** The EHR inbox adapter, global: one configured client for every feature that delivers messages. */
@Module({})
export class EhrModule {
  static forRoot(config: NotificationsConfig['ehr']): DynamicModule {
    // One guard per process and destination: the breaker must see every call to the EHR inbox.
    const options: EhrClientOptions = {
      baseUrl: config.baseUrl,
      timeoutMs: config.timeoutMs,
      guard: createDownstreamGuard('ehr-inbox', config.protection),
    };
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
