import { Inject, Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';

import {
  SUBJECTS,
  causedBy,
  idempotencyKey,
  type Envelope,
  type NotificationDeliveredV1,
  type NotificationFailedV1,
  type NotifyClinicianV1,
} from '@lifeline/contracts';
import { describeError, isAppError } from '@lifeline/errors';
import type { Logger } from '@lifeline/observability';
import {
  addToOutbox,
  claimInbox,
  TransactionBatcher,
  runBatched,
  runInTransaction,
  type OutboxMessage,
} from '@lifeline/outbox';
import { SERVICE_LOGGER } from '@lifeline/service-kit';

import { EhrClient } from '../ehr/ehr.client.js';
import {
  NotificationRepository,
  type Delivery,
  type DeliveryFailure,
} from './notification.repository.js';

/**
 * `duplicate` = already answered (delivered or failed) for this command: nothing happened this time.
 * `failed` = the EHR refused the notice or stayed unavailable past the budget; answered, not thrown.
 */
export type NotifyOutcome = 'duplicate' | 'delivered' | 'failed';

export interface NotifyAttempt {
  /** The transport will not redeliver after this attempt (plain form for callers without a transport). */
  lastAttempt?: boolean;
  /** Preferred: whether the transport would dead-letter this error (breaker pauses do not count). */
  isFinal?: (err: unknown) => Promise<boolean>;
}

/**
 * Clinician notifications through the EHR inbox (RELIABILITY O7): check the inbox, deliver with the
 * command id as Idempotency-Key, then commit inbox claim, delivery row and reply together. A crash or
 * a timeout after the EHR recorded the message repeats the call; the EHR replays it, one message.
 */
@Injectable()
export class NotificationService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly ehr: EhrClient,
    private readonly repository: NotificationRepository,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    // group commit of the transaction after the external call (ServiceCoreModule provides it)
    @Optional() private readonly batcher?: TransactionBatcher,
  ) {}

  /**
   * A refusal (e.g. EHR_REJECTED) or the last attempt the EHR left unanswered is answered
   * `notification.failed` (failure row + reply, one transaction) instead of thrown: the saga must
   * hear that the clinician was not told, or it would wait for ever on a dead letter.
   */
  async handleNotifyClinician(
    env: Envelope<NotifyClinicianV1>,
    consumer: string,
    { lastAttempt = false, isFinal }: NotifyAttempt = {},
  ): Promise<NotifyOutcome> {
    const cmd = env.data;
    const reader = this.dataSource.manager;
    if (await this.repository.isApplied(reader, consumer, env.idempotencyKey))
      return 'duplicate';
    // Recorded means announced too (same transaction), e.g. a replay after the inbox row expired.
    // A recorded failure is not retried either: the saga has already moved on from it.
    if (
      (await this.repository.findById(reader, cmd.commandId)) ||
      (await this.repository.isFailed(reader, cmd.commandId))
    ) {
      await runInTransaction(this.dataSource, (manager) =>
        claimInbox(manager, consumer, env.idempotencyKey),
      );
      return 'duplicate';
    }
    let messageId: string;
    try {
      ({ messageId } = await this.ehr.deliverMessage({
        notificationId: cmd.commandId,
        kind: cmd.kind,
        orderId: cmd.orderId,
        patientKey: cmd.patient.key,
        critical: cmd.critical,
      }));
    } catch (err) {
      if (!isAppError(err)) throw err;
      if (err.retryable && !(isFinal ? await isFinal(err) : lastAttempt)) throw err;
      return this.fail(env, consumer, describeError(err).code);
    }
    // When the EHR confirmed; after a replay that is the confirmation we got, not the first one.
    const delivery: Delivery = {
      notificationId: cmd.commandId,
      sagaId: cmd.sagaId,
      orderId: cmd.orderId,
      kind: cmd.kind,
      critical: cmd.critical,
      ehrMessageId: messageId,
      deliveredAt: new Date().toISOString(),
    };
    const outcome = await runBatched(this.batcher, this.dataSource, {
      inbox: { consumer, key: env.idempotencyKey },
      work: async (manager): Promise<NotifyOutcome> => {
        if (!(await claimInbox(manager, consumer, env.idempotencyKey)))
          return 'duplicate';
        if (!(await this.repository.insert(manager, delivery)))
          return 'duplicate';
        await addToOutbox(manager, deliveredReply(env, delivery));
        return 'delivered';
      },
    });
    if (outcome === 'delivered') {
      this.logger.info(
        {
          orderId: cmd.orderId,
          notificationId: cmd.commandId,
          kind: cmd.kind,
          critical: cmd.critical,
        },
        'clinician notified',
      );
    }
    return outcome;
  }

  private async fail(
    env: Envelope<NotifyClinicianV1>,
    consumer: string,
    reasonCode: string,
  ): Promise<NotifyOutcome> {
    const cmd = env.data;
    const failure: DeliveryFailure = {
      notificationId: cmd.commandId,
      sagaId: cmd.sagaId,
      orderId: cmd.orderId,
      kind: cmd.kind,
      critical: cmd.critical,
      reasonCode,
    };
    const outcome = await runInTransaction(
      this.dataSource,
      async (manager): Promise<NotifyOutcome> => {
        if (!(await claimInbox(manager, consumer, env.idempotencyKey)))
          return 'duplicate';
        if (!(await this.repository.insertFailure(manager, failure)))
          return 'duplicate';
        await addToOutbox(manager, failedReply(env, reasonCode));
        return 'failed';
      },
    );
    if (outcome === 'failed') {
      this.logger.warn(
        {
          orderId: cmd.orderId,
          notificationId: cmd.commandId,
          kind: cmd.kind,
          critical: cmd.critical,
          code: reasonCode,
        },
        'clinician notification failed for good',
      );
    }
    return outcome;
  }

  async findByOrderId(orderId: string): Promise<Delivery[]> {
    return this.repository.findByOrderId(this.dataSource.manager, orderId);
  }
}

function failedReply(
  command: Envelope<NotifyClinicianV1>,
  reasonCode: string,
): OutboxMessage {
  const type = SUBJECTS.clinical.notificationFailed;
  const { orderId, sagaId, commandId, kind, critical } = command.data;
  const data: NotificationFailedV1 = {
    orderId,
    sagaId,
    commandId,
    kind,
    reasonCode,
  };
  return {
    envelope: causedBy(command, {
      type,
      source: 'lifeline/notifications',
      data,
      idempotencyKey: idempotencyKey({
        sourceSystem: 'notifications',
        businessId: commandId,
        type,
      }),
      // An undelivered critical value is a patient-safety event: it must not queue behind routine work.
      priority: critical ? 'stat' : command.priority,
    }),
    aggregateId: orderId,
    expectStream: 'CLINICAL',
  };
}

function deliveredReply(
  command: Envelope<NotifyClinicianV1>,
  delivery: Delivery,
): OutboxMessage {
  const type = SUBJECTS.clinical.notificationDelivered;
  const { orderId, sagaId, commandId, kind, critical } = command.data;
  const data: NotificationDeliveredV1 = {
    orderId,
    sagaId,
    commandId,
    notificationId: delivery.notificationId,
    kind,
    deliveredAt: delivery.deliveredAt,
  };
  return {
    envelope: causedBy(command, {
      type,
      source: 'lifeline/notifications',
      data,
      idempotencyKey: idempotencyKey({
        sourceSystem: 'notifications',
        businessId: commandId,
        type,
      }),
      // A critical-result delivery must not wait behind a routine backlog.
      priority: critical ? 'stat' : command.priority,
    }),
    aggregateId: orderId,
    expectStream: 'CLINICAL',
  };
}
