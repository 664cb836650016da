import { randomUUID } from 'node:crypto';

import { Injectable } from '@nestjs/common';
import { z } from 'zod';

import type { HandlerResult, Outcome } from '../exchange/exchange.dto.js';
import { ExchangeService } from '../exchange/exchange.service.js';
import { CreateChargeDto } from './dto/create-charge.dto.js';
import type { Charge } from './dto/create-charge.dto.js';

const ANY_BODY = z.unknown();

interface Call {
  path: string;
  idempotencyKey: string | undefined;
  body: unknown;
}

/** The simulated billing system: posts and voids charges (the compensation of a charge). */
@Injectable()
export class BillingService {
  private readonly charges = new Map<string, Charge>();

  constructor(private readonly exchange: ExchangeService) {}

  createCharge(call: Call): Promise<Outcome> {
    return this.exchange.exchange({
      ...call,
      target: 'billing',
      operation: 'billing.create-charge',
      method: 'POST',
      requireIdempotencyKey: true,
      schema: CreateChargeDto,
      handle: (dto) => this.post(dto),
    });
  }

  voidCharge(call: Call & { chargeId: string }): Promise<Outcome> {
    return this.exchange.exchange({
      ...call,
      target: 'billing',
      operation: 'billing.void-charge',
      method: 'POST',
      requireIdempotencyKey: true,
      schema: ANY_BODY,
      handle: () => this.void(call.chargeId),
    });
  }

  reset(): void {
    this.charges.clear();
  }

  private post(dto: CreateChargeDto): HandlerResult {
    const charge: Charge = {
      chargeId: `CHG-${randomUUID()}`,
      orderId: dto.orderId,
      status: 'posted',
      postedAt: new Date().toISOString(),
      voidedAt: null,
    };
    this.charges.set(charge.chargeId, charge);
    return {
      kind: 'effect',
      status: 201,
      body: { chargeId: charge.chargeId, status: charge.status },
      effect: {
        resourceId: charge.chargeId,
        attributes: { orderId: dto.orderId, action: 'charge' },
      },
    };
  }

  private void(chargeId: string): HandlerResult {
    const charge = this.charges.get(chargeId);
    if (charge === undefined) {
      return {
        kind: 'answer',
        status: 404,
        body: { reasonCode: 'BILLING_CHARGE_NOT_FOUND' },
        remember: false,
      };
    }
    if (charge.status === 'voided') {
      return {
        kind: 'answer',
        status: 200,
        body: { chargeId, status: 'voided' },
        remember: true,
      };
    }
    charge.status = 'voided';
    charge.voidedAt = new Date().toISOString();
    return {
      kind: 'effect',
      status: 200,
      body: { chargeId, status: 'voided' },
      effect: {
        resourceId: chargeId,
        attributes: { orderId: charge.orderId, action: 'void' },
      },
    };
  }
}
