import { Controller, Get, Param } from '@nestjs/common';

import { labOrderError } from './lab-order.errors.js';
import type { LisOrderView } from './lab-order.repository.js';
import { LabOrderService } from './lab-order.service.js';

/** Read API: what the LIS answered for a lab order (ids and status only). */
@Controller('lab-orders')
export class LabOrderController {
  constructor(private readonly orders: LabOrderService) {}

  @Get(':orderId')
  async get(@Param('orderId') orderId: string): Promise<LisOrderView> {
    const order = await this.orders.find(orderId);
    if (!order) throw labOrderError('LAB_ORDER_NOT_FOUND', { orderId });
    return order;
  }
}
