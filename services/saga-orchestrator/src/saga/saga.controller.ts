import { Controller, Get, Param, Query } from '@nestjs/common';

import type { SagaSummary } from './saga-instance.repository.js';
import { sagaError } from './saga.errors.js';
import { SagaService, type SagaDetail } from './saga.service.js';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

/**
 * Saga inspector (read-only): instances filtered by status, order, patient key, age and in-flight;
 * one saga's history (every transition with its cause message, time and trace id); counts per status.
 */
@Controller('sagas')
export class SagaController {
  constructor(private readonly sagas: SagaService) {}

  @Get()
  async list(
    @Query('status') status?: string,
    @Query('orderId') orderId?: string,
    @Query('patientKey') patientKey?: string,
    @Query('olderThanSeconds') olderThanSeconds?: string,
    @Query('inFlight') inFlight?: string,
    @Query('limit') limit?: string,
  ): Promise<{ sagas: SagaSummary[] }> {
    const sagas = await this.sagas.list({
      status: status || undefined,
      orderId: orderId || undefined,
      patientKey: patientKey || undefined,
      minAgeSeconds: parseAge(olderThanSeconds),
      inFlight: inFlight === 'true',
      limit: parseLimit(limit),
    });
    return { sagas };
  }

  // Declared before ':sagaId' so that 'stats' is not taken for a saga id.
  @Get('stats')
  async stats(): Promise<{ counts: Record<string, number>; total: number; oldestInFlightSeconds: number }> {
    const counts = await this.sagas.countByStatus();
    const oldestInFlightSeconds = await this.sagas.oldestInFlightSeconds();
    return { counts, total: Object.values(counts).reduce((a, b) => a + b, 0), oldestInFlightSeconds };
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

function parseAge(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const age = Number(raw);
  if (!Number.isFinite(age) || age < 0) throw sagaError('SAGA_QUERY_INVALID', { olderThanSeconds: raw.slice(0, 16) });
  return age;
}
