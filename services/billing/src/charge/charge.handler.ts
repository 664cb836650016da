import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';

import {
  SUBJECTS,
  type BillingCreateChargeV1,
  type BillingVoidChargeV1,
  type Envelope,
} from '@lifeline/contracts';
import { ConsumeEvent, JetStreamContext } from '@lifeline/messaging';

import { chargeError } from './charge.errors.js';
import { ChargeService } from './charge.service.js';

/** Billing commands arrive on one consumer (`billing-commands`); dispatch by envelope type. */
@Controller()
export class ChargeHandler {
  constructor(private readonly charges: ChargeService) {}

  @ConsumeEvent('cmd.billing.>')
  async onBillingCommand(
    @Payload() env: Envelope<unknown>,
    @Ctx() ctx: JetStreamContext,
  ): Promise<void> {
    // The last delivery of the transport's budget answers with a failure instead of dead-lettering,
    // so the saga hears about it and can move on.
    const delivery = {
      consumer: ctx.durable,
      lastAttempt: false,
      isFinal: (err: unknown) => ctx.wouldDeadLetter(err),
    };
    switch (env.type) {
      case SUBJECTS.commands.billingCreateCharge:
        await this.charges.handleCreateCharge(
          env as Envelope<BillingCreateChargeV1>,
          delivery,
        );
        return;
      case SUBJECTS.commands.billingVoidCharge:
        await this.charges.handleVoidCharge(
          env as Envelope<BillingVoidChargeV1>,
          delivery,
        );
        return;
      default:
        throw chargeError('BILLING_COMMAND_UNKNOWN', { type: env.type });
    }
  }
}
