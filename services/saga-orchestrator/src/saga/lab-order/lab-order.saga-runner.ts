import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';

import { idempotencyKey, newEnvelope, type Priority } from '@lifeline/contracts';
import { currentTraceId } from '@lifeline/observability';
import { addToOutbox, claimInbox, runInTransaction, type OutboxMessage } from '@lifeline/outbox';

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
}

/** What one applied input did, counted once its transaction committed. */
export interface AppliedTransition {
  sagaId: string;
  toStatus: LabOrderSagaStatus;
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
  ) {}

  async apply(params: SagaApplyParams): Promise<void> {
    const { consumer, inboxKey } = params;
    const applied = await runInTransaction(this.dataSource, async (manager) => {
      if (consumer !== undefined && inboxKey !== undefined && !(await claimInbox(manager, consumer, inboxKey))) return undefined;
      return this.applyInTransaction(manager, params);
    });
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
    const inserted = await this.repository.insert(manager, {
      sagaId,
      sagaType: SAGA_TYPE,
      orderId: started.state.orderId,
      status: started.state.status,
      state: started.state,
      deadline: started.deadline ?? null,
    });
    if (!inserted) {
      // Two first messages raced and the other committed first: apply ours on top of its state.
      const raced = await this.repository.find(manager, sagaId, { lock });
      if (!raced) throw sagaError('SAGA_VERSION_CONFLICT', { sagaId });
      return this.advance(manager, { current: raced, params });
    }
    await this.record(manager, { params, fromStatus: null, version: 1, result: started });
    return { sagaId, toStatus: started.state.status };
  }

  private async advance(manager: EntityManager, { current, params }: { current: StoredSaga; params: SagaApplyParams }): Promise<AppliedTransition> {
    const { sagaId, input } = params;
    // Written only by this runner, from SagaState.
    const state = current.state as SagaState;
    const result = transition(state, input, this.context());
    const updated = await this.repository.update(manager, {
      sagaId,
      expectedVersion: current.version,
      status: result.state.status,
      state: result.state,
      deadline: deadlineChange(input, result),
    });
    if (!updated) throw sagaError('SAGA_VERSION_CONFLICT', { sagaId, version: current.version });
    await this.record(manager, { params, fromStatus: current.status, version: current.version + 1, result });
    return { sagaId, toStatus: result.state.status };
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
    const commands: OutboxMessage[] = result.commands.map((c) => ({
      envelope: this.envelope({ id: c.data.commandId, subject: c.subject, data: c.data, businessId: c.data.commandId, sagaId, messageId, patientKey, priority: c.priority }),
      aggregateId: sagaId,
      expectStream: 'COMMANDS',
    }));
    const events: OutboxMessage[] = result.events.map((e) => ({
      envelope: this.envelope({ id: randomUUID(), subject: e.subject, data: e.data, businessId: sagaId, sagaId, messageId, patientKey, priority: result.state.priority }),
      aggregateId: sagaId,
      expectStream: 'CLINICAL',
    }));
    await addToOutbox(manager, [...commands, ...events]);
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
  SAGA_METRICS.transitions.labels(SAGA_TYPE, applied.toStatus).inc();
}
