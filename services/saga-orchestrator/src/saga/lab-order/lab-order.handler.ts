import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';

import {
  SUBJECTS,
  type BillingChargeCreatedV1,
  type BillingChargeFailedV1,
  type BillingChargeVoidedV1,
  type Envelope,
  type LabCancelFailedV1,
  type LabOrderAcceptedV1,
  type LabOrderCancelledV1,
  type LabOrderRejectedV1,
  type LabResultRecordedV1,
  type NotificationDeliveredV1,
  type NotificationFailedV1,
  type OrderCancelRequestedV1,
  type OrderPlacedV1,
} from '@lifeline/contracts';
import { ConsumeEvent, JetStreamContext } from '@lifeline/messaging';

import { LabOrderSagaRunner } from './lab-order.saga-runner.js';
import type { SagaInput } from './lab-order.saga.js';

/**
 * Envelopes → saga inputs. One saga per order, so the saga id is the order id; replies carry it as
 * `sagaId`. Thin: mapping only; a SAGA_NOT_FOUND (a reply or result ahead of its placement) is thrown
 * on to the transport, which retries it with backoff.
 */
@Controller()
export class LabOrderHandler {
  constructor(private readonly runner: LabOrderSagaRunner) {}

  @ConsumeEvent(SUBJECTS.clinical.orderPlaced)
  async onOrderPlaced(@Payload() env: Envelope<OrderPlacedV1>, @Ctx() ctx: JetStreamContext): Promise<void> {
    await this.apply(ctx, env, { sagaId: env.data.orderId, input: { type: 'OrderPlaced', messageId: env.id, data: env.data } });
  }

  @ConsumeEvent(SUBJECTS.clinical.orderCancelRequested)
  async onCancelRequested(@Payload() env: Envelope<OrderCancelRequestedV1>, @Ctx() ctx: JetStreamContext): Promise<void> {
    await this.apply(ctx, env, { sagaId: env.data.orderId, input: { type: 'CancelRequested', messageId: env.id, data: env.data } });
  }

  @ConsumeEvent('clinical.lab.>')
  async onLabEvent(@Payload() env: Envelope<unknown>, @Ctx() ctx: JetStreamContext): Promise<void> {
    const routed = labInput(env);
    if (routed) await this.apply(ctx, env, routed);
  }

  @ConsumeEvent('clinical.notification.>')
  async onNotificationEvent(@Payload() env: Envelope<unknown>, @Ctx() ctx: JetStreamContext): Promise<void> {
    const routed = notificationInput(env);
    if (routed) await this.apply(ctx, env, routed);
  }

  @ConsumeEvent('clinical.billing.>')
  async onBillingEvent(@Payload() env: Envelope<unknown>, @Ctx() ctx: JetStreamContext): Promise<void> {
    const routed = billingInput(env);
    if (routed) await this.apply(ctx, env, routed);
  }

  private async apply(ctx: JetStreamContext, env: Envelope<unknown>, routed: Routed): Promise<void> {
    await this.runner.apply({ ...routed, consumer: ctx.durable, inboxKey: env.idempotencyKey, messageId: env.id });
  }
}

interface Routed {
  sagaId: string;
  input: SagaInput;
}

// The transport validated `data` against the schema of `env.type`; other lab facts are not the saga's.
function labInput(env: Envelope<unknown>): Routed | undefined {
  const messageId = env.id;
  switch (env.type) {
    case SUBJECTS.clinical.labOrderAccepted: {
      const data = env.data as LabOrderAcceptedV1;
      return { sagaId: data.sagaId, input: { type: 'LabAccepted', messageId, data } };
    }
    case SUBJECTS.clinical.labOrderRejected: {
      const data = env.data as LabOrderRejectedV1;
      return { sagaId: data.sagaId, input: { type: 'LabRejected', messageId, data } };
    }
    case SUBJECTS.clinical.labOrderCancelled: {
      const data = env.data as LabOrderCancelledV1;
      return { sagaId: data.sagaId, input: { type: 'LabCancelled', messageId, data } };
    }
    case SUBJECTS.clinical.labCancelFailed: {
      const data = env.data as LabCancelFailedV1;
      return { sagaId: data.sagaId, input: { type: 'LabCancelFailed', messageId, data } };
    }
    case SUBJECTS.clinical.labResultRecorded: {
      // Results are not replies to a command: they carry no sagaId, only the order id.
      const data = env.data as LabResultRecordedV1;
      return { sagaId: data.orderId, input: { type: 'ResultRecorded', messageId, data } };
    }
    default:
      return undefined;
  }
}

function notificationInput(env: Envelope<unknown>): Routed | undefined {
  const messageId = env.id;
  switch (env.type) {
    case SUBJECTS.clinical.notificationDelivered: {
      const data = env.data as NotificationDeliveredV1;
      return { sagaId: data.sagaId, input: { type: 'NotificationDelivered', messageId, data } };
    }
    case SUBJECTS.clinical.notificationFailed: {
      const data = env.data as NotificationFailedV1;
      return { sagaId: data.sagaId, input: { type: 'NotificationFailed', messageId, data } };
    }
    default:
      return undefined;
  }
}

function billingInput(env: Envelope<unknown>): Routed | undefined {
  const messageId = env.id;
  switch (env.type) {
    case SUBJECTS.clinical.billingChargeCreated: {
      const data = env.data as BillingChargeCreatedV1;
      return { sagaId: data.sagaId, input: { type: 'ChargeCreated', messageId, data } };
    }
    case SUBJECTS.clinical.billingChargeVoided: {
      const data = env.data as BillingChargeVoidedV1;
      return { sagaId: data.sagaId, input: { type: 'ChargeVoided', messageId, data } };
    }
    case SUBJECTS.clinical.billingChargeFailed: {
      const data = env.data as BillingChargeFailedV1;
      return { sagaId: data.sagaId, input: { type: 'ChargeFailed', messageId, data } };
    }
    default:
      return undefined;
  }
}
