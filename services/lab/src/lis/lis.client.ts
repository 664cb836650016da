import { Inject, Injectable } from '@nestjs/common';
import { postJson } from '@lifeline/messaging';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
} from '@opentelemetry/semantic-conventions';
import { Counter } from 'prom-client';

import type { LabAcceptOrderV1, Priority } from '@lifeline/contracts';
import type { AppError } from '@lifeline/errors';
import type { DownstreamGuard } from '@lifeline/messaging';
import {
  ATTR,
  SpanKind,
  inSpan,
  injectTraceContext,
  registry,
} from '@lifeline/observability';

import { lisError, type LisErrorCode } from './lis.errors.js';
import {
  cancelOrderOutcome,
  placeOrderOutcome,
  type HttpExchange,
  type LisFailure,
} from './lis-response.util.js';

export const LIS_CLIENT_OPTIONS = Symbol('LIS_CLIENT_OPTIONS');

export interface LisClientOptions {
  /** e.g. http://127.0.0.1:3100/lis, without a trailing slash. */
  baseUrl: string;
  timeoutMs: number;
  /**
   * Breaker, rate limit and concurrency cap for the LIS; absent = unguarded. A refusal throws a
   * retryable DOWNSTREAM_CIRCUIT_OPEN / DOWNSTREAM_RATE_LIMITED that does not spend attempts.
   */
  guard?: DownstreamGuard;
}

export interface PlaceLisOrder {
  /** Stable across redeliveries (the command id): the LIS replays its first answer for it. */
  idempotencyKey: string;
  orderId: string;
  placerOrderNumber: string;
  tests: LabAcceptOrderV1['tests'];
  priority: Priority;
}

export type LisPlacement =
  | { kind: 'accepted'; lisOrderId: string }
  | { kind: 'rejected'; reasonCode: string };

const requests = new Counter({
  name: 'lab_lis_requests_total',
  help: 'HTTP calls to the LIS, by operation and outcome',
  labelNames: ['operation', 'outcome'] as const,
  registers: [registry],
});

/**
 * HTTP adapter for the LIS order API. Every call carries an Idempotency-Key, so a retry after a
 * timeout or a crash gets the LIS's first answer back instead of placing a second order. Errors are
 * AppErrors: LIS_UNAVAILABLE is retryable, everything else is final.
 */
@Injectable()
export class LisClient {
  constructor(
    @Inject(LIS_CLIENT_OPTIONS) private readonly options: LisClientOptions,
  ) {}

  placeOrder(order: PlaceLisOrder): Promise<LisPlacement> {
    return this.guarded(() => this.placeOrderOnce(order));
  }

  cancelOrder(params: {
    idempotencyKey: string;
    orderId: string;
    lisOrderId: string;
  }): Promise<void> {
    return this.guarded(() => this.cancelOrderOnce(params));
  }

  private guarded<T>(call: () => Promise<T>): Promise<T> {
    return this.options.guard ? this.options.guard.run(call) : call();
  }

  private async placeOrderOnce(order: PlaceLisOrder): Promise<LisPlacement> {
    const { idempotencyKey, orderId, placerOrderNumber, tests, priority } =
      order;
    // Built field by field: the body must be identical on every retry (the LIS compares it per key)
    // and must never pick up anything else the caller holds, such as patient data.
    const body = { orderId, placerOrderNumber, tests, priority };
    const exchange = await this.post({
      span: 'POST lis.orders',
      path: '/orders',
      idempotencyKey,
      orderId: order.orderId,
      body,
    });
    const outcome = placeOrderOutcome(exchange);
    requests
      .labels(
        'place-order',
        outcome.kind === 'failed' ? outcome.code : outcome.kind,
      )
      .inc();
    if (outcome.kind === 'failed') throw this.failure(outcome, order.orderId);
    return outcome;
  }

  private async cancelOrderOnce(params: {
    idempotencyKey: string;
    orderId: string;
    lisOrderId: string;
  }): Promise<void> {
    const { idempotencyKey, orderId, lisOrderId } = params;
    const exchange = await this.post({
      span: 'POST lis.orders.cancel',
      path: `/orders/${encodeURIComponent(lisOrderId)}/cancel`,
      idempotencyKey,
      orderId,
      body: { orderId },
    });
    const outcome = cancelOrderOutcome(exchange);
    requests
      .labels(
        'cancel-order',
        outcome.kind === 'failed' ? outcome.code : outcome.kind,
      )
      .inc();
    if (outcome.kind === 'failed')
      throw this.failure(outcome, orderId, lisOrderId);
  }

  private failure(
    outcome: LisFailure,
    orderId: string,
    lisOrderId?: string,
  ): AppError<LisErrorCode> {
    return lisError(outcome.code, {
      orderId,
      lisOrderId: lisOrderId ?? null,
      httpStatus: outcome.status ?? null,
    });
  }

  private post(params: {
    span: string;
    path: string;
    idempotencyKey: string;
    orderId: string;
    body: unknown;
  }): Promise<HttpExchange> {
    const { span: name, path, idempotencyKey, orderId, body } = params;
    const attributes = {
      [ATTR.httpTarget]: 'lis',
      [ATTR.orderId]: orderId,
      [ATTR_HTTP_REQUEST_METHOD]: 'POST',
    };
    return inSpan({ name, kind: SpanKind.CLIENT, attributes }, async (span) => {
      // Inside the client span, so the LIS's own spans hang below this call.
      const headers = injectTraceContext({
        'content-type': 'application/json',
        accept: 'application/json',
        'idempotency-key': idempotencyKey,
      });
      const exchange = await postJson({
        url: `${this.options.baseUrl}${path}`,
        headers,
        body,
        timeoutMs: this.options.timeoutMs,
      });
      if (exchange.kind === 'response')
        span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, exchange.status);
      span.setAttribute(
        ATTR.outcome,
        exchange.kind === 'response' ? String(exchange.status) : exchange.kind,
      );
      return exchange;
    });
  }
}
