import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
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
  started: new Counter({
    name: 'saga_started_total',
    help: 'Sagas started (committed first transition), by saga type',
    labelNames: ['saga_type'] as const,
    registers: [registry],
  }),
  completed: new Counter({
    name: 'saga_completed_total',
    help: 'Sagas completed (billing-failed completions included), by saga type',
    labelNames: ['saga_type'] as const,
    registers: [registry],
  }),
  compensated: new Counter({
    name: 'saga_compensated_total',
    help: 'Sagas that ended cancelled after undoing their steps, by saga type',
    labelNames: ['saga_type'] as const,
    registers: [registry],
  }),
  needsAttention: new Counter({
    name: 'saga_needs_attention_total',
    help: 'Sagas put in needs-attention (a compensation or the result notice failed after its retry budget), by saga type',
    labelNames: ['saga_type'] as const,
    registers: [registry],
  }),
  stepDuration: new Histogram({
    name: 'saga_step_duration_seconds',
    help: 'Time a saga spent in a status before moving on, by saga type and step (the status left)',
    labelNames: ['saga_type', 'step'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3_600, 86_400],
    registers: [registry],
  }),
  oldestInFlight: new Gauge({
    name: 'saga_oldest_in_flight_seconds',
    help: 'Age of the oldest saga not yet settled (terminal or needs-attention); 0 when none',
    registers: [registry],
  }),
};

/** Statuses after which a saga waits for nothing (needs-attention waits for a human, not a reply). */
export const SETTLED_STATUSES = ['completed', 'completed-billing-failed', 'cancelled', 'rejected', 'needs-attention'] as const;

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
      SAGA_METRICS.oldestInFlight.set(await this.repository.oldestInFlightSeconds(this.dataSource.manager, SETTLED_STATUSES));
    } catch (err) {
      this.logger.warn({ err: { code: describeError(err).code } }, 'saga metrics refresh failed');
    }
  }
}
