import { Module } from '@nestjs/common';

import { LabOrderController } from './lab-order.controller.js';
import { LabOrderHandler } from './lab-order.handler.js';
import { LabOrderRepository } from './lab-order.repository.js';
import { LabOrderService } from './lab-order.service.js';

// LisClient comes from the global LisModule (app.module).
@Module({
  controllers: [LabOrderController, LabOrderHandler],
  providers: [LabOrderService, LabOrderRepository],
})
export class LabOrderModule {}
