import { Inject, Injectable, Optional } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

import {
  SUBJECTS,
  causedBy,
  idempotencyKey,
  type Envelope,
  type LabAcceptOrderV1,
  type LabCancelFailedV1,
  type LabCancelOrderV1,
  type LabOrderAcceptedV1,
  type LabOrderCancelledV1,
  type LabOrderRejectedV1,
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

import { LisClient, type LisPlacement } from '../lis/lis.client.js';
import { labOrderError } from './lab-order.errors.js';
import {
  LabOrderRepository,
  type LisOrderView,
} from './lab-order.repository.js';

/** What a lab command did; `duplicate` = this consumer had already applied it (nothing happened). */
export type LabCommandOutcome =
  'duplicate' | 'accepted' | 'rejected' | 'cancelled' | 'cancel-failed';

type ReplyType =
  | typeof SUBJECTS.clinical.labOrderAccepted
  | typeof SUBJECTS.clinical.labOrderRejected
  | typeof SUBJECTS.clinical.labOrderCancelled
  | typeof SUBJECTS.clinical.labCancelFailed;

/**
 * Lab commands with an external side effect at the LIS (RELIABILITY O7): check the inbox, call the
 * LIS with the command id as Idempotency-Key, then commit inbox claim, lis_orders row and reply
 * together. A crash between the call and the commit repeats the call; the LIS replays its answer.
 */
@Injectable()
export class LabOrderService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly lis: LisClient,
    private readonly repository: LabOrderRepository,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    // group commit of the transaction after the external call (ServiceCoreModule provides it)
    @Optional() private readonly batcher?: TransactionBatcher,
  ) {}

  /**
   * `isFinal(err)` / `lastAttempt`: as for a cancel. A LIS that refuses the request for good, or stays
   * unavailable past the retry budget, is answered `order-rejected` with the error code (recorded as
   * rejected), so the saga ends rejected and the orderer is told instead of the saga waiting on a
   * dead letter.
   */
  async handleAcceptOrder(
    env: Envelope<LabAcceptOrderV1>,
    consumer: string,
    { lastAttempt = false, isFinal }: { lastAttempt?: boolean; isFinal?: (err: unknown) => Promise<boolean> } = {},
  ): Promise<LabCommandOutcome> {
    const cmd = env.data;
    const reader = this.dataSource.manager;
    if (await this.repository.isApplied(reader, consumer, env.idempotencyKey))
      return 'duplicate';
    // One LIS order per lab order, whatever the command id: a second accept gets the first answer.
    const known = await this.repository.findByOrderId(reader, cmd.orderId);
    let failedCode: string | undefined;
    let placement: LisPlacement;
    if (known === undefined) {
      try {
        placement = await this.lis.placeOrder({
          idempotencyKey: cmd.commandId,
          orderId: cmd.orderId,
          placerOrderNumber: cmd.placerOrderNumber,
          tests: cmd.tests,
          priority: cmd.priority,
        });
      } catch (err) {
        if (!isAppError(err)) throw err;
        if (err.retryable && !(isFinal ? await isFinal(err) : lastAttempt)) throw err;
        // A timeout on the last attempt may still have placed the order at the LIS; the rejected
        // row and the warning below are what an operator reconciles it by (never silently lost).
        failedCode = describeError(err).code;
        placement = { kind: 'rejected', reasonCode: failedCode };
      }
    } else {
      placement = placementOf(known);
    }
    const outcome = await runBatched(this.batcher, this.dataSource, {
      inbox: { consumer, key: env.idempotencyKey },
      work: async (manager) => {
        if (!(await claimInbox(manager, consumer, env.idempotencyKey)))
          return 'duplicate';
        if (known === undefined)
          await this.recordPlacement(manager, { cmd, placement });
        await addToOutbox(manager, placementReply(env, placement));
        return placement.kind;
      },
    });
    if (outcome !== 'duplicate' && failedCode !== undefined) {
      this.logger.warn(
        { orderId: cmd.orderId, commandId: cmd.commandId, code: failedCode },
        'lab order placement failed for good, answered rejected',
      );
    } else if (outcome !== 'duplicate') {
      this.logger.info(
        {
          orderId: cmd.orderId,
          commandId: cmd.commandId,
          outcome,
          replayed: known !== undefined,
        },
        'lab order placement answered',
      );
    }
    return outcome;
  }

  /**
   * `isFinal(err)`: the transport would dead-letter this error (its retry budget is spent; breaker
   * pauses do not count). A refused cancel, or the last one the LIS left unanswered, is answered
   * `cancel-failed` so the saga records a failed compensation instead of waiting on a dead letter.
   * `lastAttempt` is the plain form for callers without a transport.
   */
  async handleCancelOrder(
    env: Envelope<LabCancelOrderV1>,
    consumer: string,
    { lastAttempt = false, isFinal }: { lastAttempt?: boolean; isFinal?: (err: unknown) => Promise<boolean> } = {},
  ): Promise<LabCommandOutcome> {
    const cmd = env.data;
    const reader = this.dataSource.manager;
    if (await this.repository.isApplied(reader, consumer, env.idempotencyKey))
      return 'duplicate';
    const known = await this.repository.findByOrderId(reader, cmd.orderId);
    // Only an accepted order is live at the LIS; never accepted, rejected or cancelled: nothing to call.
    const live =
      known?.status === 'accepted' && known.lisOrderId !== null
        ? known.lisOrderId
        : undefined;
    if (live !== undefined) {
      try {
        await this.lis.cancelOrder({
          idempotencyKey: cmd.commandId,
          orderId: cmd.orderId,
          lisOrderId: live,
        });
      } catch (err) {
        if (!isAppError(err)) throw err;
        if (err.retryable && !(isFinal ? await isFinal(err) : lastAttempt)) throw err;
        return this.cancelFailed(env, consumer, describeError(err).code);
      }
    }
    const outcome = await runInTransaction(this.dataSource, async (manager) => {
      if (!(await claimInbox(manager, consumer, env.idempotencyKey)))
        return 'duplicate';
      if (live !== undefined)
        await this.repository.markCancelled(manager, {
          orderId: cmd.orderId,
          commandId: cmd.commandId,
        });
      if (known === undefined) await this.recordNeverAccepted(manager, env);
      const data: LabOrderCancelledV1 = {
        orderId: cmd.orderId,
        sagaId: cmd.sagaId,
        commandId: cmd.commandId,
        lisOrderId: known?.lisOrderId ?? undefined,
      };
      await addToOutbox(
        manager,
        reply(env, { type: SUBJECTS.clinical.labOrderCancelled, data }),
      );
      return 'cancelled';
    });
    if (outcome !== 'duplicate') {
      this.logger.info(
        {
          orderId: cmd.orderId,
          commandId: cmd.commandId,
          outcome,
          calledLis: live !== undefined,
        },
        'lab order cancel answered',
      );
    }
    return outcome;
  }

  private async cancelFailed(
    env: Envelope<LabCancelOrderV1>,
    consumer: string,
    reasonCode: string,
  ): Promise<LabCommandOutcome> {
    const { orderId, sagaId, commandId } = env.data;
    const outcome = await runInTransaction(this.dataSource, async (manager) => {
      if (!(await claimInbox(manager, consumer, env.idempotencyKey)))
        return 'duplicate';
      const data: LabCancelFailedV1 = { orderId, sagaId, commandId, reasonCode };
      await addToOutbox(
        manager,
        reply(env, { type: SUBJECTS.clinical.labCancelFailed, data }),
      );
      return 'cancel-failed';
    });
    if (outcome !== 'duplicate')
      this.logger.warn(
        { orderId, commandId, code: reasonCode },
        'lab order cancel failed for good',
      );
    return outcome;
  }

  async find(orderId: string): Promise<LisOrderView | undefined> {
    return this.repository.findByOrderId(this.dataSource.manager, orderId);
  }

  private async recordPlacement(
    manager: EntityManager,
    params: { cmd: LabAcceptOrderV1; placement: LisPlacement },
  ): Promise<void> {
    const { cmd, placement } = params;
    const lisOrderId =
      placement.kind === 'accepted' ? placement.lisOrderId : null;
    const inserted = await this.repository.insert(manager, {
      orderId: cmd.orderId,
      sagaId: cmd.sagaId,
      commandId: cmd.commandId,
      lisOrderId,
      status: placement.kind,
      reasonCode: placement.kind === 'rejected' ? placement.reasonCode : null,
      priority: cmd.priority,
    });
    if (inserted) return;
    // Another command for the same order committed first (only possible with two command ids).
    const stored = await this.repository.findByOrderId(manager, cmd.orderId);
    if (stored?.status !== placement.kind || stored.lisOrderId !== lisOrderId) {
      throw labOrderError('LAB_ORDER_CONFLICT', {
        orderId: cmd.orderId,
        lisOrderId,
        storedLisOrderId: stored?.lisOrderId ?? null,
      });
    }
  }

  /** Remembers that the order is closed at the lab, so a late accept cannot place it any more. */
  private async recordNeverAccepted(
    manager: EntityManager,
    env: Envelope<LabCancelOrderV1>,
  ): Promise<void> {
    const { orderId, sagaId, commandId } = env.data;
    const inserted = await this.repository.insert(manager, {
      orderId,
      sagaId,
      commandId,
      lisOrderId: null,
      status: 'cancelled',
      reasonCode: null,
      priority: env.priority,
    });
    // An acceptance committed after our read: the order is live at the LIS now, so redo the cancel.
    if (!inserted) throw labOrderError('LAB_ORDER_CHANGED', { orderId });
  }
}

/** The answer already on record for this order; a cancelled order must not be placed again. */
function placementOf(known: LisOrderView): LisPlacement {
  switch (known.status) {
    case 'accepted':
      if (known.lisOrderId !== null)
        return { kind: 'accepted', lisOrderId: known.lisOrderId };
      throw labOrderError('LAB_ORDER_CONFLICT', { orderId: known.orderId });
    case 'rejected':
      return {
        kind: 'rejected',
        reasonCode: known.reasonCode ?? 'LIS_REJECTED',
      };
    case 'cancelled':
      throw labOrderError('LAB_ORDER_CANCELLED', { orderId: known.orderId });
  }
}

function placementReply(
  env: Envelope<LabAcceptOrderV1>,
  placement: LisPlacement,
): OutboxMessage {
  const { orderId, sagaId, commandId } = env.data;
  if (placement.kind === 'accepted') {
    const data: LabOrderAcceptedV1 = {
      orderId,
      sagaId,
      commandId,
      lisOrderId: placement.lisOrderId,
    };
    return reply(env, { type: SUBJECTS.clinical.labOrderAccepted, data });
  }
  const data: LabOrderRejectedV1 = {
    orderId,
    sagaId,
    commandId,
    reasonCode: placement.reasonCode,
  };
  return reply(env, { type: SUBJECTS.clinical.labOrderRejected, data });
}

/** A reply keyed by the command: a redelivered command yields the same idempotency key downstream. */
function reply(
  command: Envelope<{ orderId: string; commandId: string }>,
  params: { type: ReplyType; data: object },
): OutboxMessage {
  const { type, data } = params;
  const { orderId, commandId } = command.data;
  return {
    envelope: causedBy(command, {
      type,
      source: 'lifeline/lab',
      data,
      idempotencyKey: idempotencyKey({
        sourceSystem: 'lab',
        businessId: commandId,
        type,
      }),
    }),
    aggregateId: orderId,
    expectStream: 'CLINICAL',
  };
}
