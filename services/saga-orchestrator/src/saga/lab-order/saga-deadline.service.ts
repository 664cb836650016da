import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

import { describeError } from '@lifeline/errors';
import { ATTR, inSpan, type Logger } from '@lifeline/observability';
import { runInTransaction } from '@lifeline/outbox';
import { SERVICE_LOGGER } from '@lifeline/service-kit';

import { SAGA_OPTIONS, type SagaOptions } from '../saga-options.util.js';
import { sagaError } from '../saga.errors.js';
import { SagaInstanceRepository, type DueDeadline } from '../saga-instance.repository.js';
import { countTransition, LabOrderSagaRunner, type AppliedTransition } from './lab-order.saga-runner.js';
import type { SagaInput } from './lab-order.saga.js';

const BATCH = 50;

/**
 * Durable deadlines: polls `saga_instances.deadline_at` and applies `DeadlineExpired` in the same
 * transaction that row-locked the due saga. A reply racing the deadline takes the same row lock, so
 * one of them goes first and the saga sees the other against the new state (and ignores it if late).
 */
@Injectable()
export class SagaDeadlineService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running = false;
  private inFlight?: Promise<void>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly runner: LabOrderSagaRunner,
    private readonly repository: SagaInstanceRepository,
    @Inject(SAGA_OPTIONS) private readonly options: Pick<SagaOptions, 'deadlinePollMs'>,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    // A hybrid app (HTTP + JetStream microservice) runs bootstrap hooks once per part: start once.
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    // Let a poll in progress commit before the DataSource closes.
    await this.inFlight;
  }

  /** Fires the due deadlines of one batch; returns how many were applied. */
  async pollOnce(): Promise<number> {
    const applied = await runInTransaction(this.dataSource, async (manager) => {
      const due = await this.repository.claimDue(manager, BATCH);
      const done: AppliedTransition[] = [];
      for (const deadline of due) {
        const result = await this.fire(manager, deadline);
        if (result) done.push(result);
      }
      return done;
    });
    applied.forEach(countTransition);
    return applied.length;
  }

  // A savepoint per saga: one saga that cannot be advanced must not hold back the rest of the batch.
  private async fire(manager: EntityManager, deadline: DueDeadline): Promise<AppliedTransition | undefined> {
    const { sagaId } = deadline;
    await manager.query('SAVEPOINT saga_deadline');
    try {
      const applied = await inSpan({ name: 'saga deadline', attributes: { [ATTR.sagaId]: sagaId } }, () =>
        this.runner.applyInTransaction(manager, { sagaId, input: deadlineInput(deadline) }),
      );
      await manager.query('RELEASE SAVEPOINT saga_deadline');
      return applied;
    } catch (err) {
      await manager.query('ROLLBACK TO SAVEPOINT saga_deadline');
      // Still due: retried on the next poll.
      this.logger.error({ sagaId, err: { code: describeError(err).code } }, 'saga deadline failed');
      return undefined;
    }
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.inFlight = this.tick();
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let fired = 0;
    try {
      fired = await this.pollOnce();
    } catch (err) {
      // The loop never dies: a database outage is retried on the next period.
      this.logger.error({ err: { code: describeError(err).code } }, 'saga deadline poll failed');
    }
    // A full batch fired means more may be due: go again at once. Counting fired rather than claimed
    // keeps a batch of failing sagas from spinning the loop.
    if (this.running) this.schedule(fired >= BATCH ? 0 : this.options.deadlinePollMs);
  }
}

function deadlineInput(deadline: DueDeadline): SagaInput {
  if (deadline.deadlineKind !== 'result-due') {
    throw sagaError('SAGA_DEADLINE_INVALID', { sagaId: deadline.sagaId, kind: deadline.deadlineKind });
  }
  return {
    type: 'DeadlineExpired',
    messageId: `deadline:${deadline.sagaId}:${deadline.deadlineAt}`,
    data: { kind: deadline.deadlineKind, at: deadline.deadlineAt },
  };
}
