import { Module } from '@nestjs/common';

import { BillingModule } from '../billing/billing.module.js';
import { LisModule } from '../lis/lis.module.js';
import { ControlController } from './control.controller.js';
import { ControlService } from './control.service.js';

@Module({
  imports: [LisModule, BillingModule],
  controllers: [ControlController],
  providers: [ControlService],
})
export class ControlModule {}
