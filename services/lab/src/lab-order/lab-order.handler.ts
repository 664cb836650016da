import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';

import {
  SUBJECTS,
  type Envelope,
  type LabAcceptOrderV1,
  type LabCancelOrderV1,
} from '@lifeline/contracts';
import { ConsumeEvent, JetStreamContext } from '@lifeline/messaging';

import { labOrderError } from './lab-order.errors.js';
import { LabOrderService } from './lab-order.service.js';

/** The saga's lab commands arrive on one consumer (`lab-commands`); dispatch by envelope type. */
@Controller()
export class LabOrderHandler {
  constructor(private readonly orders: LabOrderService) {}

  @ConsumeEvent('cmd.lab.>')
  async onLabCommand(
    @Payload() env: Envelope<unknown>,
    @Ctx() ctx: JetStreamContext,
  ): Promise<void> {
    // The transport has validated the payload against the schema of env.type.
    switch (env.type) {
      case SUBJECTS.commands.labAcceptOrder:
        // The last delivery of the budget answers order-rejected instead of dead-lettering, so
        // the saga ends rejected (and the orderer is told) rather than waiting for ever.
        await this.orders.handleAcceptOrder(
          env as Envelope<LabAcceptOrderV1>,
          ctx.durable,
          { isFinal: (err) => ctx.wouldDeadLetter(err) },
        );
        return;
      case SUBJECTS.commands.labCancelOrder:
        await this.orders.handleCancelOrder(
          env as Envelope<LabCancelOrderV1>,
          ctx.durable,
          { isFinal: (err) => ctx.wouldDeadLetter(err) },
        );
        return;
      default:
        throw labOrderError('LAB_COMMAND_UNKNOWN', { type: env.type });
    }
  }
}
