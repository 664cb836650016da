import { Inject, Injectable } from '@nestjs/common';
import { postJson } from '@lifeline/messaging';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
} from '@opentelemetry/semantic-conventions';
import { Counter } from 'prom-client';

import {
  ATTR,
  SpanKind,
  inSpan,
  injectTraceContext,
  registry,
} from '@lifeline/observability';

import { chargeOutcome } from './billing-system-response.util.js';
import { billingSystemError } from './billing-system.errors.js';

export const BILLING_SYSTEM_OPTIONS = Symbol('BILLING_SYSTEM_OPTIONS');

export interface BillingSystemOptions {
  /** e.g. http://127.0.0.1:3100/billing, without a trailing slash. */
  baseUrl: string;
  timeoutMs: number;
}

export interface ChargeRequest {
  /** The create command id: stable across redeliveries, so a retry is a replay, not a second charge. */
  idempotencyKey: string;
  orderId: string;
  items: Array<{ code: string; quantity: number }>;
}

const requests = new Counter({
  name: 'billing_system_requests_total',
  help: 'HTTP calls to the billing system, by operation and outcome',
  labelNames: ['operation', 'outcome'] as const,
  registers: [registry],
});

/**
 * HTTP adapter for the billing system (RELIABILITY O7). The Idempotency-Key is the command id; errors
 * are AppErrors: BILLING_UNAVAILABLE is retryable, everything else is final.
 */
@Injectable()
export class BillingSystemClient {
  constructor(
    @Inject(BILLING_SYSTEM_OPTIONS)
    private readonly options: BillingSystemOptions,
  ) {}

  async createCharge(req: ChargeRequest): Promise<{ chargeId: string }> {
    // Built field by field: the body must be identical on every retry (compared per key).
    const body = { orderId: req.orderId, items: req.items };
    return this.call({
      operation: 'create',
      path: '/charges',
      orderId: req.orderId,
      idempotencyKey: req.idempotencyKey,
      body,
    });
  }

  async voidCharge(req: {
    idempotencyKey: string;
    orderId: string;
    chargeId: string;
  }): Promise<{ chargeId: string }> {
    return this.call({
      operation: 'void',
      path: `/charges/${encodeURIComponent(req.chargeId)}/void`,
      orderId: req.orderId,
      idempotencyKey: req.idempotencyKey,
      body: {},
    });
  }

  private async call(c: {
    operation: 'create' | 'void';
    path: string;
    orderId: string;
    idempotencyKey: string;
    body: unknown;
  }): Promise<{ chargeId: string }> {
    const attributes = {
      [ATTR.httpTarget]: 'billing',
      [ATTR.orderId]: c.orderId,
      [ATTR_HTTP_REQUEST_METHOD]: 'POST',
    };
    const exchange = await inSpan(
      { name: `POST billing.${c.operation}`, kind: SpanKind.CLIENT, attributes },
      async (span) => {
        const headers = injectTraceContext({
          'content-type': 'application/json',
          accept: 'application/json',
          'idempotency-key': c.idempotencyKey,
        });
        const result = await postJson({
          url: `${this.options.baseUrl}${c.path}`,
          headers,
          body: c.body,
          timeoutMs: this.options.timeoutMs,
        });
        if (result.kind === 'response')
          span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, result.status);
        return result;
      },
    );
    const outcome = chargeOutcome(exchange);
    requests
      .labels(c.operation, outcome.kind === 'failed' ? outcome.code : 'ok')
      .inc();
    if (outcome.kind === 'failed')
      throw billingSystemError(outcome.code, {
        orderId: c.orderId,
        operation: c.operation,
        httpStatus: outcome.status ?? null,
      });
    return { chargeId: outcome.chargeId };
  }
}
