import { Inject, Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';

import {
  SUBJECTS,
  causedBy,
  idempotencyKey,
  type BillingChargeCreatedV1,
  type BillingChargeFailedV1,
  type BillingChargeVoidedV1,
  type BillingCreateChargeV1,
  type BillingVoidChargeV1,
  type Envelope,
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

import { BillingSystemClient } from '../billing-system/billing-system.client.js';
import { chargeError } from './charge.errors.js';
import { ChargeRepository, type ChargeRecord } from './charge.repository.js';

/** `duplicate` = this consumer had already applied the command: nothing happened this time. */
export type BillingOutcome = 'duplicate' | 'created' | 'voided' | 'failed';

export interface Delivery {
  consumer: string;
  /** The transport will not redeliver after this attempt: answer with a failure instead of throwing. */
  lastAttempt: boolean;
  /** Preferred over lastAttempt: whether the transport would dead-letter this error (breaker pauses do not count). */
  isFinal?: (err: unknown) => Promise<boolean>;
}

type ReplyType =
  | typeof SUBJECTS.clinical.billingChargeCreated
  | typeof SUBJECTS.clinical.billingChargeVoided
  | typeof SUBJECTS.clinical.billingChargeFailed;

/**
 * Charges at the billing system (RELIABILITY O7): check the inbox, call billing with the command id
 * as Idempotency-Key, then commit inbox claim, charges row and reply together. A crash between the
 * call and the commit repeats the call; the billing system replays its first answer: one charge.
 * Retryable failures (429, 5xx, timeout) are thrown to the transport (nak with backoff) until the
 * last attempt; a refusal (422) or the last failed attempt answers `charge-failed`.
 */
@Injectable()
export class ChargeService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly billing: BillingSystemClient,
    private readonly repository: ChargeRepository,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
    // group commit of the transaction after the external call (ServiceCoreModule provides it)
    @Optional() private readonly batcher?: TransactionBatcher,
  ) {}

  async handleCreateCharge(
    env: Envelope<BillingCreateChargeV1>,
    delivery: Delivery,
  ): Promise<BillingOutcome> {
    const cmd = env.data;
    const reader = this.dataSource.manager;
    if (await this.repository.isApplied(reader, delivery.consumer, env.idempotencyKey))
      return 'duplicate';
    // One charge per order whatever the command id: a second create gets the first charge back.
    const known = await this.repository.findByOrderId(reader, cmd.orderId);
    let chargeId = known?.chargeId;
    if (chargeId === undefined) {
      const called = await this.attempt(delivery, () =>
        this.billing.createCharge({
          idempotencyKey: cmd.commandId,
          orderId: cmd.orderId,
          items: cmd.items,
        }),
      );
      if (called.kind === 'failed')
        return this.fail(env, delivery, { operation: 'create', reasonCode: called.code });
      chargeId = called.chargeId;
    }
    const created = chargeId;
    const outcome = await runBatched(this.batcher, this.dataSource, { inbox: { consumer: delivery.consumer, key: env.idempotencyKey }, work: async (manager) => {
      if (!(await claimInbox(manager, delivery.consumer, env.idempotencyKey)))
        return 'duplicate';
      if (known === undefined) {
        const inserted = await this.repository.insert(manager, {
          orderId: cmd.orderId,
          sagaId: cmd.sagaId,
          createCommandId: cmd.commandId,
          chargeId: created,
        });
        const stored = inserted ? undefined : await this.repository.findByOrderId(manager, cmd.orderId);
        if (stored !== undefined && stored.chargeId !== created)
          throw chargeError('CHARGE_CONFLICT', { orderId: cmd.orderId });
      }
      const data: BillingChargeCreatedV1 = { ...replyRef(cmd), chargeId: created };
      await addToOutbox(manager, reply(env, { type: SUBJECTS.clinical.billingChargeCreated, data }));
      return 'created' as const;
    } });
    this.logOutcome(env, outcome);
    return outcome;
  }

  async handleVoidCharge(
    env: Envelope<BillingVoidChargeV1>,
    delivery: Delivery,
  ): Promise<BillingOutcome> {
    const cmd = env.data;
    const reader = this.dataSource.manager;
    if (await this.repository.isApplied(reader, delivery.consumer, env.idempotencyKey))
      return 'duplicate';
    const known = await this.repository.findByOrderId(reader, cmd.orderId);
    // Already voided (by an earlier command): the billing system holds nothing more to undo.
    if (known?.status !== 'voided') {
      const called = await this.attempt(delivery, () =>
        this.billing.voidCharge({
          idempotencyKey: cmd.commandId,
          orderId: cmd.orderId,
          chargeId: cmd.chargeId,
        }),
      );
      if (called.kind === 'failed')
        return this.fail(env, delivery, {
          operation: 'void',
          reasonCode: called.code,
          chargeId: cmd.chargeId,
        });
    }
    const outcome = await runInTransaction(this.dataSource, async (manager) => {
      if (!(await claimInbox(manager, delivery.consumer, env.idempotencyKey)))
        return 'duplicate';
      await this.repository.markVoided(manager, { orderId: cmd.orderId, commandId: cmd.commandId });
      const data: BillingChargeVoidedV1 = { ...replyRef(cmd), chargeId: cmd.chargeId };
      await addToOutbox(manager, reply(env, { type: SUBJECTS.clinical.billingChargeVoided, data }));
      return 'voided' as const;
    });
    this.logOutcome(env, outcome);
    return outcome;
  }

  async findByOrderId(orderId: string): Promise<ChargeRecord | undefined> {
    return this.repository.findByOrderId(this.dataSource.manager, orderId);
  }

  /** Runs the call; a final failure becomes a value, a retryable one is rethrown while budget remains. */
  private async attempt(
    delivery: Delivery,
    call: () => Promise<{ chargeId: string }>,
  ): Promise<{ kind: 'ok'; chargeId: string } | { kind: 'failed'; code: string }> {
    try {
      return { kind: 'ok', ...(await call()) };
    } catch (err) {
      if (!isAppError(err)) throw err;
      if (err.retryable && !(delivery.isFinal ? await delivery.isFinal(err) : delivery.lastAttempt)) throw err;
      return { kind: 'failed', code: describeError(err).code };
    }
  }

  private async fail(
    env: Envelope<BillingCreateChargeV1 | BillingVoidChargeV1>,
    delivery: Delivery,
    f: Pick<BillingChargeFailedV1, 'operation' | 'reasonCode' | 'chargeId'>,
  ): Promise<BillingOutcome> {
    const outcome = await runInTransaction(this.dataSource, async (manager) => {
      if (!(await claimInbox(manager, delivery.consumer, env.idempotencyKey)))
        return 'duplicate';
      const data: BillingChargeFailedV1 = { ...replyRef(env.data), ...f };
      await addToOutbox(manager, reply(env, { type: SUBJECTS.clinical.billingChargeFailed, data }));
      return 'failed' as const;
    });
    if (outcome === 'failed') {
      this.logger.warn(
        { orderId: env.data.orderId, commandId: env.data.commandId, operation: f.operation, code: f.reasonCode },
        'billing call failed for good',
      );
    }
    return outcome;
  }

  private logOutcome(env: Envelope<{ orderId: string; commandId: string }>, outcome: BillingOutcome): void {
    if (outcome === 'duplicate') return;
    this.logger.info({ orderId: env.data.orderId, commandId: env.data.commandId, outcome }, 'billing command answered');
  }
}

function replyRef(cmd: { orderId: string; sagaId: string; commandId: string }): {
  orderId: string;
  sagaId: string;
  commandId: string;
} {
  return { orderId: cmd.orderId, sagaId: cmd.sagaId, commandId: cmd.commandId };
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
      source: 'lifeline/billing',
      data,
      idempotencyKey: idempotencyKey({ sourceSystem: 'billing', businessId: commandId, type }),
    }),
    aggregateId: orderId,
    expectStream: 'CLINICAL',
  };
}
