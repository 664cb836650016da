import { Controller, Get, Param, Query } from '@nestjs/common';

import type { SagaSummary } from './saga-instance.repository.js';
import { sagaError } from './saga.errors.js';
import { SagaService, type SagaDetail } from './saga.service.js';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

/** Read API: saga instances, their transition history and counts per status. */
@Controller('sagas')
export class SagaController {
  constructor(private readonly sagas: SagaService) {}

  @Get()
  async list(
    @Query('status') status?: string,
    @Query('orderId') orderId?: string,
    @Query('limit') limit?: string,
  ): Promise<{ sagas: SagaSummary[] }> {
    return { sagas: await this.sagas.list({ status: status || undefined, orderId: orderId || undefined, limit: parseLimit(limit) }) };
  }

  // Declared before ':sagaId' so that 'stats' is not taken for a saga id.
  @Get('stats')
  async stats(): Promise<{ counts: Record<string, number>; total: number }> {
    const counts = await this.sagas.countByStatus();
    return { counts, total: Object.values(counts).reduce((a, b) => a + b, 0) };
  }

  @Get(':sagaId')
  async get(@Param('sagaId') sagaId: string): Promise<SagaDetail> {
    const detail = await this.sagas.get(sagaId);
    if (!detail) throw sagaError('SAGA_NOT_FOUND', { sagaId });
    return detail;
  }
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_LIMIT;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw sagaError('SAGA_QUERY_INVALID', { limit: raw.slice(0, 16) });
  return limit;
}
