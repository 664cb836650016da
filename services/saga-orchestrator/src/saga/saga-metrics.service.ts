import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { DataSource } from 'typeorm';

import { describeError } from '@lifeline/errors';
import { registry, type Logger } from '@lifeline/observability';
import { SERVICE_LOGGER } from '@lifeline/service-kit';

import { SagaInstanceRepository } from './saga-instance.repository.js';

// Labels are saga types and statuses only, never ids (bounded cardinality, no PHI).
export const SAGA_METRICS = {
  instances: new Gauge({
    name: 'saga_instances',
    help: 'Saga instances by status (refreshed every few seconds from the database)',
    labelNames: ['state'] as const,
    registers: [registry],
  }),
  transitions: new Counter({
    name: 'saga_transitions_total',
    help: 'Committed saga transitions (ignored inputs included), by saga type and resulting status',
    labelNames: ['saga_type', 'to_status'] as const,
    registers: [registry],
  }),
};

const REFRESH_MS = 5_000;

/** Keeps the `saga_instances` gauge current from the database: the row counts are the truth. */
@Injectable()
export class SagaMetricsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer?: NodeJS.Timeout;
  /** Statuses reported once stay reported (as 0), so alerts on a series never see it vanish. */
  private readonly seen = new Set<string>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: SagaInstanceRepository,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    // A hybrid app (HTTP + JetStream microservice) runs bootstrap hooks once per part: start once.
    if (this.timer) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  beforeApplicationShutdown(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async refresh(): Promise<void> {
    try {
      const counts = await this.repository.countByStatus(this.dataSource.manager);
      for (const status of Object.keys(counts)) this.seen.add(status);
      for (const status of this.seen) SAGA_METRICS.instances.labels(status).set(counts[status] ?? 0);
    } catch (err) {
      this.logger.warn({ err: { code: describeError(err).code } }, 'saga metrics refresh failed');
    }
  }
}
