import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { SagaInstanceRepository, type SagaHistoryRecord, type SagaListFilter, type SagaSummary } from './saga-instance.repository.js';
import { SETTLED_STATUSES } from './saga-metrics.service.js';

export interface SagaDetail {
  saga: SagaSummary;
  history: SagaHistoryRecord[];
}

/** Read side of the saga tables, for operators; the write side is each saga type's runner. */
@Injectable()
export class SagaService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: SagaInstanceRepository,
  ) {}

  async get(sagaId: string): Promise<SagaDetail | undefined> {
    // One snapshot for both reads: a transition committing between them would show a summary
    // older than its history (read-only, so REPEATABLE READ never has to retry).
    return this.dataSource.transaction('REPEATABLE READ', async (manager) => {
      const saga = await this.repository.findSummary(manager, sagaId);
      if (!saga) return undefined;
      return { saga, history: await this.repository.history(manager, sagaId) };
    });
  }

  async list(filter: Omit<SagaListFilter, 'excludeStatuses'> & { inFlight?: boolean }): Promise<SagaSummary[]> {
    const { inFlight, ...rest } = filter;
    return this.repository.list(this.dataSource.manager, { ...rest, excludeStatuses: inFlight === true ? [...SETTLED_STATUSES] : undefined });
  }

  async oldestInFlightSeconds(): Promise<number> {
    return this.repository.oldestInFlightSeconds(this.dataSource.manager, SETTLED_STATUSES);
  }

  async countByStatus(): Promise<Record<string, number>> {
    return this.repository.countByStatus(this.dataSource.manager);
  }
}
