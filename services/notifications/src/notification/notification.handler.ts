import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';

import {
  SUBJECTS,
  type Envelope,
  type NotifyClinicianV1,
} from '@lifeline/contracts';
import { ConsumeEvent, JetStreamContext } from '@lifeline/messaging';

import { notificationError } from './notification.errors.js';
import { NotificationService } from './notification.service.js';

/** Notify commands arrive on one consumer (`notifications-commands`); dispatch by envelope type. */
@Controller()
export class NotificationHandler {
  constructor(private readonly notifications: NotificationService) {}

  @ConsumeEvent('cmd.notify.>')
  async onNotifyCommand(
    @Payload() env: Envelope<unknown>,
    @Ctx() ctx: JetStreamContext,
  ): Promise<void> {
    // The transport has validated the payload against the schema of env.type.
    switch (env.type) {
      case SUBJECTS.commands.notifyClinician:
        // The last delivery of the budget answers notification.failed instead of dead-lettering,
        // so the saga hears that the clinician was not told.
        await this.notifications.handleNotifyClinician(
          env as Envelope<NotifyClinicianV1>,
          ctx.durable,
          { isFinal: (err) => ctx.wouldDeadLetter(err) },
        );
        return;
      default:
        throw notificationError('NOTIFY_COMMAND_UNKNOWN', { type: env.type });
    }
  }
}
