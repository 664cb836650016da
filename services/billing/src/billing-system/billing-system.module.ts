import { Module, type DynamicModule } from '@nestjs/common';

import {
  BILLING_SYSTEM_OPTIONS,
  BillingSystemClient,
  type BillingSystemOptions,
} from './billing-system.client.js';

/** The billing system adapter, global: one configured client. */
@Module({})
export class BillingSystemModule {
  static forRoot(options: BillingSystemOptions): DynamicModule {
    return {
      module: BillingSystemModule,
      global: true,
      providers: [
        { provide: BILLING_SYSTEM_OPTIONS, useValue: options },
        BillingSystemClient,
      ],
      exports: [BillingSystemClient],
    };
  }
}
