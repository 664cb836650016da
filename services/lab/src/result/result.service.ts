import { createHash } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { DataSource } from 'typeorm';

import {
  SUBJECTS,
  causedBy,
  idempotencyKey,
  type Envelope,
  type LabResultRecordedV1,
  type ResultReceivedV1,
} from '@lifeline/contracts';
import { registry, type Logger } from '@lifeline/observability';
import { TransactionBatcher, addToOutbox, claimInbox } from '@lifeline/outbox';
import { SERVICE_LOGGER } from '@lifeline/service-kit';

import { flagCritical } from './critical-flag.util.js';
import { ResultRepository, type ResultSummary } from './result.repository.js';

export type ResultOutcome = 'duplicate' | 'recorded';

const recorded = new Counter({
  name: 'lab_results_recorded_total',
  help: 'Lab results recorded, by critical flag',
  labelNames: ['critical'] as const,
  registers: [registry],
});

/**
 * Stable per result version: the upstream idempotency key changes when the result is corrected
 * (new status or values), so a correction is a new result and a resend is the same one.
 */
export function resultIdOf(upstreamIdempotencyKey: string): string {
  return createHash('sha256')
    .update(upstreamIdempotencyKey)
    .digest('hex')
    .slice(0, 24);
}

/**
 * A received result is flagged, stored and announced in one transaction with its inbox claim: a
 * redelivery records nothing twice. Critical results are announced on the stat lane.
 */
@Injectable()
export class ResultService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: ResultRepository,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    private readonly batcher: TransactionBatcher,
  ) {}

  async recordResult(
    env: Envelope<ResultReceivedV1>,
    consumer: string,
  ): Promise<ResultOutcome> {
    const { orderId, resultStatus, observations } = env.data;
    const resultId = resultIdOf(env.idempotencyKey);
    const { critical, criticalCodes } = flagCritical(observations);
    // group commit: concurrent messages share one transaction (database effects only in here, see TransactionBatcher)
    const outcome = await this.batcher.run({
      inbox: { consumer, key: env.idempotencyKey },
      work: async (manager): Promise<ResultOutcome> => {
        if (!(await claimInbox(manager, consumer, env.idempotencyKey)))
          return 'duplicate';
        // Already recorded under another message (e.g. a replay after the inbox row expired): announced then.
        if (
          !(await this.repository.insert(manager, {
            resultId,
            orderId,
            resultStatus,
            critical,
            criticalCodes,
            observations,
          }))
        )
          return 'duplicate';
        const type = SUBJECTS.clinical.labResultRecorded;
        const data: LabResultRecordedV1 = {
          orderId,
          resultId,
          resultStatus,
          critical,
          criticalCodes,
          observationCount: observations.length,
        };
        await addToOutbox(manager, {
          envelope: causedBy(env, {
            type,
            source: 'lifeline/lab',
            data,
            idempotencyKey: idempotencyKey({
              sourceSystem: 'lab',
              businessId: resultId,
              type,
            }),
            // A critical value must not wait behind a routine backlog.
            priority: critical ? 'stat' : env.priority,
          }),
          aggregateId: orderId,
          expectStream: 'CLINICAL',
        });
        return 'recorded';
      },
    });
    if (outcome === 'recorded') {
      recorded.labels(String(critical)).inc();
      this.logger.info(
        { orderId, resultId, critical, criticalCodes },
        'lab result recorded',
      );
    }
    return outcome;
  }

  async findByOrderId(orderId: string): Promise<ResultSummary[]> {
    return this.repository.findByOrderId(this.dataSource.manager, orderId);
  }
}
