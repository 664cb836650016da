import { Controller, Get, Query } from '@nestjs/common';

import type { ChargeRecord } from './charge.repository.js';
import { ChargeService } from './charge.service.js';

/** Read API: the charge of an order (ids, status and times only). */
@Controller('charges')
export class ChargeController {
  constructor(private readonly charges: ChargeService) {}

  @Get()
  async find(
    @Query('orderId') orderId?: string,
  ): Promise<{ charges: ChargeRecord[] }> {
    if (!orderId) return { charges: [] };
    const charge = await this.charges.findByOrderId(orderId);
    return { charges: charge ? [charge] : [] };
  }
}
