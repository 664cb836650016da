import { Controller, Get, Query } from '@nestjs/common';

import type { ResultSummary } from './result.repository.js';
import { ResultService } from './result.service.js';

/** Read API: an order's recorded results with their critical flags, never observation values. */
@Controller('results')
export class ResultController {
  constructor(private readonly results: ResultService) {}

  @Get()
  async find(
    @Query('orderId') orderId?: string,
  ): Promise<{ results: ResultSummary[] }> {
    if (!orderId) return { results: [] };
    return { results: await this.results.findByOrderId(orderId) };
  }
}
