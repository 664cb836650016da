import { Inject, Injectable, Optional } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';

import { idempotencyKey, newEnvelope, type Priority } from '@lifeline/contracts';
import { JetStreamPublisher } from '@lifeline/messaging';
import { currentTraceId } from '@lifeline/observability';
import { TransactionBatcher, addToOutbox, claimInbox, runInTransaction, type OutboxMessage } from '@lifeline/outbox';

import { SAGA_METRICS } from '../saga-metrics.service.js';
import { SAGA_OPTIONS, type SagaOptions } from '../saga-options.util.js';
import { sagaError } from '../saga.errors.js';
import { SagaInstanceRepository, type DeadlineChange, type StoredSaga } from '../saga-instance.repository.js';
import { SAGA_TYPE, transition, type LabOrderSagaStatus, type SagaContext, type SagaInput, type SagaState, type SagaTransition } from './lab-order.saga.js';

const SOURCE = 'lifeline/saga-orchestrator';
const SOURCE_SYSTEM = 'saga-orchestrator';

export interface SagaApplyParams {
  input: SagaInput;
  sagaId: string;
  /** Consumer durable and message idempotency key: together they make the inbox row. */
  consumer?: string;
  inboxKey?: string;
  /** Id of the message that caused this input: the causation id of everything it emits. */
  messageId?: string;
}

export interface LabOrderSagaRunnerOptions {
  deadlines: SagaOptions['deadlines'];
  /**
   * UNSAFE, tests only: read the saga row without FOR UPDATE. Exists so a test can show that the row
   * lock is what prevents lost updates; never set it in the service.
   */
  unsafeSkipRowLock?: boolean;
  /**
   * UNSAFE, negative control of the crash test only: publish commands straight to JetStream (fresh
   * message id, before the commit) instead of through the outbox. A crash or a conflict between the
   * publish and the commit then duplicates or loses effects. Never set it in production.
   */
  unsafePublishCommandsDirectly?: boolean;
}

/** What one applied input did, counted once its transaction committed. */
export interface AppliedTransition {
  sagaId: string;
  /** null: this input started the saga. */
  fromStatus: string | null;
  toStatus: LabOrderSagaStatus;
  /** Seconds the saga spent in `fromStatus` (the step just finished), when the status changed. */
  stepSeconds?: number;
}

/**
 * Runs the pure lab-order saga against its persisted instance. One input = one transaction: inbox
 * row, row-locked read, transition, versioned write, deadline, history and every command and outcome
 * event in the outbox. Commands leave only through the outbox, so a crash never half-applies a step.
 */
@Injectable()
export class LabOrderSagaRunner {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: SagaInstanceRepository,
    @Inject(SAGA_OPTIONS) private readonly options: LabOrderSagaRunnerOptions,
    // Only the unsafe direct-publish mode uses it; the service always has one (MessagingModule).
    @Optional() private readonly publisher?: JetStreamPublisher,
    // group commit of concurrent inputs (ServiceCoreModule provides it; without it, one transaction each)
    @Optional() private readonly batcher?: TransactionBatcher,
  ) {}

  async apply(params: SagaApplyParams): Promise<void> {
    const { consumer, inboxKey } = params;
    const work = async (manager: EntityManager): Promise<AppliedTransition | undefined> => {
      if (consumer !== undefined && inboxKey !== undefined && !(await claimInbox(manager, consumer, inboxKey))) return undefined;
      return this.applyInTransaction(manager, params);
    };
    // The negative controls publish from inside the work or skip the row lock: one transaction each.
    const batchable = this.batcher && !this.unsafeDirect() && this.options.unsafeSkipRowLock !== true;
    const applied = batchable
      ? await this.batcher.run({ inbox: consumer !== undefined && inboxKey !== undefined ? { consumer, key: inboxKey } : undefined, work })
      : await runInTransaction(this.dataSource, work);
    if (applied) countTransition(applied);
  }

  /**
   * Steps (b)–(f) inside the caller's transaction (the deadline poller shares its transaction with
   * the row claim). The caller counts the transition after its commit.
   */
  async applyInTransaction(manager: EntityManager, params: SagaApplyParams): Promise<AppliedTransition> {
    const { sagaId, input } = params;
    const lock = this.options.unsafeSkipRowLock !== true;
    const current = await this.repository.find(manager, sagaId, { lock });
    if (current) return this.advance(manager, { current, params });

    // Throws SAGA_NOT_FOUND (retryable) for anything but a start: its placement may be on its way.
    const started = transition(null, input, this.context());
    await this.unsafePublish(params, started);
    const inserted = await this.repository.insert(manager, {
      sagaId,
      sagaType: SAGA_TYPE,
      orderId: started.state.orderId,
      status: started.state.status,
      state: started.state,
      deadline: started.deadline ?? null,
      patientKey: started.state.patient.key,
      attention: started.state.attention ?? null,
    });
    if (!inserted) {
      // Two first messages raced and the other committed first: apply ours on top of its state.
      const raced = await this.repository.find(manager, sagaId, { lock });
      if (!raced) throw sagaError('SAGA_VERSION_CONFLICT', { sagaId });
      return this.advance(manager, { current: raced, params });
    }
    await this.record(manager, { params, fromStatus: null, version: 1, result: started });
    return { sagaId, fromStatus: null, toStatus: started.state.status };
  }

  private async advance(manager: EntityManager, { current, params }: { current: StoredSaga; params: SagaApplyParams }): Promise<AppliedTransition> {
    const { sagaId, input } = params;
    // Written only by this runner, from SagaState.
    const state = current.state as SagaState;
    const result = transition(state, input, this.context());
    await this.unsafePublish(params, result);
    const updated = await this.repository.update(manager, {
      sagaId,
      expectedVersion: current.version,
      status: result.state.status,
      state: result.state,
      deadline: deadlineChange(input, result),
      attention: result.state.attention ?? null,
    });
    if (!updated) throw sagaError('SAGA_VERSION_CONFLICT', { sagaId, version: current.version });
    await this.record(manager, { params, fromStatus: current.status, version: current.version + 1, result });
    const changed = current.status !== result.state.status;
    const stepSeconds = changed ? Math.max(0, (Date.now() - Date.parse(current.updatedAt)) / 1000) : undefined;
    return { sagaId, fromStatus: current.status, toStatus: result.state.status, stepSeconds };
  }

  private async record(
    manager: EntityManager,
    { params, fromStatus, version, result }: { params: SagaApplyParams; fromStatus: string | null; version: number; result: SagaTransition },
  ): Promise<void> {
    const { sagaId, input, messageId } = params;
    await this.repository.appendHistory(manager, {
      sagaId,
      version,
      inputType: input.type,
      messageId: messageId ?? null,
      fromStatus,
      toStatus: result.state.status,
      commands: result.commands.map((c) => ({ subject: c.subject, commandId: c.data.commandId })),
      events: result.events.map((e) => e.subject),
      ignored: result.ignored ?? null,
      traceId: currentTraceId() ?? null,
    });
    const patientKey = result.state.patient.key;
    const events: OutboxMessage[] = result.events.map((e) => ({
      envelope: this.envelope({ id: randomUUID(), subject: e.subject, data: e.data, businessId: sagaId, sagaId, messageId, patientKey, priority: result.state.priority }),
      aggregateId: sagaId,
      expectStream: 'CLINICAL',
    }));
    const commands = this.unsafeDirect() ? [] : this.commandMessages(params, result);
    await addToOutbox(manager, [...commands, ...events]);
  }

  private commandMessages({ sagaId, messageId }: SagaApplyParams, result: SagaTransition): OutboxMessage[] {
    const patientKey = result.state.patient.key;
    return result.commands.map((c) => ({
      envelope: this.envelope({ id: c.data.commandId, subject: c.subject, data: c.data, businessId: c.data.commandId, sagaId, messageId, patientKey, priority: c.priority }),
      aggregateId: sagaId,
      expectStream: 'COMMANDS',
    }));
  }

  private unsafeDirect(): boolean {
    return this.options.unsafePublishCommandsDirectly === true && this.publisher !== undefined;
  }

  // The negative control's bug on purpose, the naive "publish, then save" order: the publish happens
  // before any row is written and is not rolled back with the transaction, and a fresh id per attempt
  // defeats the broker's dedup.
  private async unsafePublish(params: SagaApplyParams, result: SagaTransition): Promise<void> {
    const publisher = this.publisher;
    if (!this.unsafeDirect() || publisher === undefined) return;
    for (const c of this.commandMessages(params, result)) {
      await publisher.publishEnvelope({ ...c.envelope, id: randomUUID() }, { expectStream: 'COMMANDS' });
    }
  }

  private envelope(m: {
    id: string;
    subject: string;
    data: unknown;
    businessId: string;
    sagaId: string;
    messageId: string | undefined;
    patientKey: string;
    priority: Priority;
  }): OutboxMessage['envelope'] {
    return newEnvelope({
      id: m.id,
      type: m.subject,
      source: SOURCE,
      data: m.data,
      idempotencyKey: idempotencyKey({ sourceSystem: SOURCE_SYSTEM, businessId: m.businessId, type: m.subject }),
      correlationId: m.sagaId,
      causationId: m.messageId,
      patientKey: m.patientKey,
      priority: m.priority,
    });
  }

  private context(): SagaContext {
    return { now: new Date().toISOString(), newId: randomUUID, deadlines: this.options.deadlines };
  }
}

// A fired deadline is spent: if the saga left it alone (it ignored a late deadline), clear it, or the
// poller would fire it again on every poll.
function deadlineChange(input: SagaInput, result: SagaTransition): DeadlineChange {
  if (input.type === 'DeadlineExpired' && result.deadline === undefined) return null;
  return result.deadline;
}

export function countTransition(applied: AppliedTransition): void {
  const { fromStatus, toStatus, stepSeconds } = applied;
  SAGA_METRICS.transitions.labels(SAGA_TYPE, toStatus).inc();
  if (fromStatus === null) SAGA_METRICS.started.labels(SAGA_TYPE).inc();
  if (fromStatus === toStatus) return;
  if (fromStatus !== null && stepSeconds !== undefined) SAGA_METRICS.stepDuration.labels(SAGA_TYPE, fromStatus).observe(stepSeconds);
  if (toStatus === 'completed' || toStatus === 'completed-billing-failed') SAGA_METRICS.completed.labels(SAGA_TYPE).inc();
  // A cancel before the placement starts settled and undoes nothing: not a compensation.
  if (toStatus === 'cancelled' && fromStatus !== null) SAGA_METRICS.compensated.labels(SAGA_TYPE).inc();
  if (toStatus === 'needs-attention') SAGA_METRICS.needsAttention.labels(SAGA_TYPE).inc();
}
