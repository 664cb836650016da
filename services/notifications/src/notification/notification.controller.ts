import { Controller, Get, Query } from '@nestjs/common';

import type { Delivery } from './notification.repository.js';
import { NotificationService } from './notification.service.js';

/** Read API: the notifications delivered for an order (ids, kinds and times only). */
@Controller('deliveries')
export class NotificationController {
  constructor(private readonly notifications: NotificationService) {}

  @Get()
  async find(
    @Query('orderId') orderId?: string,
  ): Promise<{ deliveries: Delivery[] }> {
    if (!orderId) return { deliveries: [] };
    return { deliveries: await this.notifications.findByOrderId(orderId) };
  }
}
