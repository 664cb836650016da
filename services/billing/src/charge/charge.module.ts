import { Module } from '@nestjs/common';

import { ChargeController } from './charge.controller.js';
import { ChargeHandler } from './charge.handler.js';
import { ChargeRepository } from './charge.repository.js';
import { ChargeService } from './charge.service.js';

// BillingSystemClient comes from the global BillingSystemModule (app.module).
@Module({
  controllers: [ChargeController, ChargeHandler],
  providers: [ChargeService, ChargeRepository],
})
export class ChargeModule {}
