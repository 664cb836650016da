import { randomUUID } from 'node:crypto';

import { Injectable } from '@nestjs/common';

import type { HandlerResult, Outcome } from '../exchange/exchange.dto.js';
import { ExchangeService } from '../exchange/exchange.service.js';
import { DeliverMessageDto } from './dto/deliver-message.dto.js';

/** The simulated EHR inbox: every accepted message is one delivery to a clinician. */
@Injectable()
export class EhrService {
  constructor(private readonly exchange: ExchangeService) {}

  deliverMessage(call: {
    path: string;
    idempotencyKey: string | undefined;
    body: unknown;
  }): Promise<Outcome> {
    return this.exchange.exchange({
      ...call,
      target: 'ehr',
      operation: 'ehr.deliver-message',
      method: 'POST',
      requireIdempotencyKey: true,
      schema: DeliverMessageDto,
      handle: (dto) => this.deliver(dto),
    });
  }

  private deliver(dto: DeliverMessageDto): HandlerResult {
    const messageId = `EHR-MSG-${randomUUID()}`;
    return {
      kind: 'effect',
      status: 201,
      body: { messageId },
      effect: {
        resourceId: messageId,
        // patientKey is a keyed hash (no PHI), so tests may assert on it.
        attributes: {
          notificationId: dto.notificationId,
          kind: dto.kind,
          orderId: dto.orderId,
          patientKey: dto.patientKey,
          critical: dto.critical,
        },
      },
    };
  }
}
