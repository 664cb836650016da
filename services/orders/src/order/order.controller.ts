import { Controller, Get, Param, Query } from '@nestjs/common';

import { orderError } from './order.errors.js';
import { OrderService, type OrderHistory } from './order.service.js';
import type { OrderSummary } from './order.repository.js';

/** Read API: an order's current state and its event history, by order id or placer order number. */
@Controller('orders')
export class OrderController {
  constructor(private readonly orders: OrderService) {}

  @Get()
  async find(@Query('placerOrderNumber') placerOrderNumber?: string): Promise<{ orders: OrderSummary[] }> {
    if (!placerOrderNumber) return { orders: [] };
    return { orders: await this.orders.findByPlacerOrderNumber(placerOrderNumber) };
  }

  @Get(':orderId')
  async get(@Param('orderId') orderId: string): Promise<OrderHistory> {
    const history = await this.orders.history(orderId);
    if (!history) throw orderError('ORDER_NOT_FOUND', { orderId });
    return history;
  }
}
