import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';

import {
  SUBJECTS,
  type Envelope,
  type LabOrderAcceptedV1,
  type LabOrderRejectedV1,
  type LabResultRecordedV1,
  type NotificationDeliveredV1,
  type OrderCancelRequestedV1,
  type OrderPlacedV1,
  type WorkflowLabOrderRejectedV1,
} from '@lifeline/contracts';
import { ConsumeEvent, JetStreamContext } from '@lifeline/messaging';

import type { LabOrderCommand } from './lab-order.decider.js';
import { OrderService } from './order.service.js';

/**
 * Facts about an order arrive from several producers (normalizer, lab, notifications, saga); each
 * becomes one decider command on the order's stream. Thin: mapping only, the service does the rest.
 */
@Controller()
export class OrderHandler {
  constructor(private readonly orders: OrderService) {}

  @ConsumeEvent(SUBJECTS.clinical.orderPlaced)
  async onOrderPlaced(@Payload() env: Envelope<OrderPlacedV1>, @Ctx() ctx: JetStreamContext): Promise<void> {
    const d = env.data;
    await this.apply(ctx, env, {
      type: 'PlaceOrder',
      data: {
        orderId: d.orderId,
        placerOrderNumber: d.placerOrderNumber,
        placerNamespace: d.placerNamespace,
        fillerOrderNumber: d.fillerOrderNumber,
        sourceSystem: d.sourceSystem,
        patientKey: d.patient.key,
        tests: d.tests.map((t) => t.code),
        priority: d.priority,
        orderedAt: d.orderedAt,
        at: env.time,
      },
    });
  }

  @ConsumeEvent(SUBJECTS.clinical.orderCancelRequested)
  async onCancelRequested(@Payload() env: Envelope<OrderCancelRequestedV1>, @Ctx() ctx: JetStreamContext): Promise<void> {
    await this.apply(ctx, env, { type: 'RequestCancel', data: { orderId: env.data.orderId, reason: env.data.reason, at: env.time } });
  }

  @ConsumeEvent('clinical.lab.>')
  async onLabEvent(@Payload() env: Envelope<unknown>, @Ctx() ctx: JetStreamContext): Promise<void> {
    const command = labCommand(env);
    if (command) await this.apply(ctx, env, command);
  }

  @ConsumeEvent('clinical.notification.>')
  async onNotificationEvent(@Payload() env: Envelope<NotificationDeliveredV1>, @Ctx() ctx: JetStreamContext): Promise<void> {
    if (env.type !== SUBJECTS.clinical.notificationDelivered) return;
    await this.apply(ctx, env, {
      type: 'RecordClinicianNotified',
      data: { orderId: env.data.orderId, notificationId: env.data.notificationId, kind: env.data.kind, at: env.data.deliveredAt },
    });
  }

  @ConsumeEvent('clinical.workflow.>')
  async onWorkflowEvent(@Payload() env: Envelope<{ orderId: string; at: string }>, @Ctx() ctx: JetStreamContext): Promise<void> {
    const ref = { orderId: env.data.orderId, at: env.data.at };
    switch (env.type) {
      case SUBJECTS.clinical.workflowLabOrderCompleted:
        return this.apply(ctx, env, { type: 'Complete', data: ref });
      case SUBJECTS.clinical.workflowLabOrderCancelled:
        return this.apply(ctx, env, { type: 'ConfirmCancelled', data: ref });
      case SUBJECTS.clinical.workflowLabOrderRejected:
        return this.apply(ctx, env, { type: 'ConfirmRejected', data: { ...ref, reasonCode: (env.data as WorkflowLabOrderRejectedV1).reasonCode } });
      default:
        return;
    }
  }

  private async apply(ctx: JetStreamContext, env: Envelope<unknown>, command: LabOrderCommand): Promise<void> {
    await this.orders.apply({ consumer: ctx.durable, envelope: env, command });
  }
}

// Lab facts the order records; an order-cancelled reply is the saga's business until it confirms.
function labCommand(env: Envelope<unknown>): LabOrderCommand | undefined {
  switch (env.type) {
    case SUBJECTS.clinical.labOrderAccepted: {
      const d = env.data as LabOrderAcceptedV1;
      return { type: 'RecordLabAccepted', data: { orderId: d.orderId, lisOrderId: d.lisOrderId, at: env.time } };
    }
    case SUBJECTS.clinical.labOrderRejected: {
      const d = env.data as LabOrderRejectedV1;
      return { type: 'RecordLabRejected', data: { orderId: d.orderId, reasonCode: d.reasonCode, at: env.time } };
    }
    case SUBJECTS.clinical.labResultRecorded: {
      const d = env.data as LabResultRecordedV1;
      return { type: 'RecordResult', data: { orderId: d.orderId, resultId: d.resultId, resultStatus: d.resultStatus, critical: d.critical, at: env.time } };
    }
    default:
      return undefined;
  }
}
