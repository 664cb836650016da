import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

import {
  SUBJECTS,
  causedBy,
  idempotencyKey,
  type Envelope,
  type NotificationDeliveredV1,
  type NotifyClinicianV1,
} from '@lifeline/contracts';
import type { Logger } from '@lifeline/observability';
import {
  addToOutbox,
  claimInbox,
  runInTransaction,
  type OutboxMessage,
} from '@lifeline/outbox';
import { SERVICE_LOGGER } from '@lifeline/service-kit';

import { EhrClient } from '../ehr/ehr.client.js';
import {
  NotificationRepository,
  type Delivery,
} from './notification.repository.js';

/** `duplicate` = already delivered and announced for this command: nothing happened this time. */
export type NotifyOutcome = 'duplicate' | 'delivered';

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
  ) {}

  async handleNotifyClinician(
    env: Envelope<NotifyClinicianV1>,
    consumer: string,
  ): Promise<NotifyOutcome> {
    const cmd = env.data;
    const reader = this.dataSource.manager;
    if (await this.repository.isApplied(reader, consumer, env.idempotencyKey))
      return 'duplicate';
    // Recorded means announced too (same transaction), e.g. a replay after the inbox row expired.
    if (await this.repository.findById(reader, cmd.commandId)) {
      await runInTransaction(this.dataSource, (manager) =>
        claimInbox(manager, consumer, env.idempotencyKey),
      );
      return 'duplicate';
    }
    const { messageId } = await this.ehr.deliverMessage({
      notificationId: cmd.commandId,
      kind: cmd.kind,
      orderId: cmd.orderId,
      patientKey: cmd.patient.key,
      critical: cmd.critical,
    });
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
    const outcome = await runInTransaction(
      this.dataSource,
      async (manager): Promise<NotifyOutcome> => {
        if (!(await claimInbox(manager, consumer, env.idempotencyKey)))
          return 'duplicate';
        if (!(await this.repository.insert(manager, delivery)))
          return 'duplicate';
        await addToOutbox(manager, deliveredReply(env, delivery));
        return 'delivered';
      },
    );
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

  async findByOrderId(orderId: string): Promise<Delivery[]> {
    return this.repository.findByOrderId(this.dataSource.manager, orderId);
  }
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
