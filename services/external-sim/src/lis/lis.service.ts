import { randomUUID } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';

import { EXTERNAL_SIM_CONFIG } from '../config/external-sim.config.js';
import type { ExternalSimConfig } from '../config/external-sim.config.js';
import type { HandlerResult, Outcome } from '../exchange/exchange.dto.js';
import { ExchangeService } from '../exchange/exchange.service.js';
import { PlaceOrderDto } from './dto/place-order.dto.js';
import type { LisOrder } from './dto/place-order.dto.js';

// Cancel and read carry no body worth checking; whatever arrives is recorded as is.
const ANY_BODY = z.unknown();

interface Call {
  path: string;
  idempotencyKey: string | undefined;
  body: unknown;
}

/** The simulated lab information system: accepts, rejects and cancels lab orders. */
@Injectable()
export class LisService {
  private readonly orders = new Map<string, LisOrder>();
  private readonly rejectCodes: ReadonlySet<string>;

  constructor(
    private readonly exchange: ExchangeService,
    @Inject(EXTERNAL_SIM_CONFIG) config: ExternalSimConfig,
  ) {
    this.rejectCodes = new Set(config.lis.rejectTestCodes);
  }

  placeOrder(call: Call): Promise<Outcome> {
    return this.exchange.exchange({
      ...call,
      target: 'lis',
      operation: 'lis.place-order',
      method: 'POST',
      requireIdempotencyKey: true,
      schema: PlaceOrderDto,
      handle: (dto) => this.accept(dto),
    });
  }

  cancelOrder(call: Call & { lisOrderId: string }): Promise<Outcome> {
    return this.exchange.exchange({
      ...call,
      target: 'lis',
      operation: 'lis.cancel-order',
      method: 'POST',
      requireIdempotencyKey: true,
      schema: ANY_BODY,
      handle: () => this.cancel(call.lisOrderId),
    });
  }

  getOrder(call: Call & { lisOrderId: string }): Promise<Outcome> {
    return this.exchange.exchange({
      ...call,
      target: 'lis',
      operation: 'lis.get-order',
      method: 'GET',
      requireIdempotencyKey: false,
      schema: ANY_BODY,
      handle: () => {
        const order = this.orders.get(call.lisOrderId);
        return order === undefined
          ? {
              kind: 'answer',
              status: 404,
              body: { reasonCode: 'LIS_ORDER_NOT_FOUND' },
              remember: false,
            }
          : {
              kind: 'answer',
              status: 200,
              body: { ...order },
              remember: false,
            };
      },
    });
  }

  reset(): void {
    this.orders.clear();
  }

  private accept(dto: PlaceOrderDto): HandlerResult {
    if (dto.tests.some((t) => this.rejectCodes.has(t.code))) {
      // A business refusal: replayed for the same key like any other answer, but no effect.
      return {
        kind: 'answer',
        status: 422,
        body: { reasonCode: 'LIS_REJECTED' },
        remember: true,
      };
    }
    const order: LisOrder = {
      lisOrderId: `LIS-${randomUUID()}`,
      orderId: dto.orderId,
      placerOrderNumber: dto.placerOrderNumber,
      tests: dto.tests.map((t) => ({ code: t.code })),
      priority: dto.priority,
      status: 'accepted',
      acceptedAt: new Date().toISOString(),
      cancelledAt: null,
    };
    this.orders.set(order.lisOrderId, order);
    return {
      kind: 'effect',
      status: 201,
      body: { lisOrderId: order.lisOrderId, status: 'accepted' },
      effect: {
        resourceId: order.lisOrderId,
        attributes: {
          orderId: order.orderId,
          placerOrderNumber: order.placerOrderNumber,
        },
      },
    };
  }

  private cancel(lisOrderId: string): HandlerResult {
    const order = this.orders.get(lisOrderId);
    if (order === undefined) {
      // Not remembered: an unknown id stays answerable once the order exists (e.g. after a race).
      return {
        kind: 'answer',
        status: 404,
        body: { reasonCode: 'LIS_ORDER_NOT_FOUND' },
        remember: false,
      };
    }
    if (order.status === 'cancelled') {
      // Cancelling twice under a new key is harmless and changes nothing.
      return {
        kind: 'answer',
        status: 200,
        body: { status: 'cancelled' },
        remember: true,
      };
    }
    order.status = 'cancelled';
    order.cancelledAt = new Date().toISOString();
    return {
      kind: 'effect',
      status: 200,
      body: { status: 'cancelled' },
      effect: {
        resourceId: lisOrderId,
        attributes: { orderId: order.orderId, action: 'cancel' },
      },
    };
  }
}
