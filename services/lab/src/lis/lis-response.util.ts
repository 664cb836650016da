import type { LisErrorCode } from './lis.errors.js';

import type { HttpExchange } from '@lifeline/messaging';

export type { HttpExchange };

export type LisFailure = {
  kind: 'failed';
  code: LisErrorCode;
  status?: number;
};

export type PlaceOrderOutcome =
  | { kind: 'accepted'; lisOrderId: string }
  | { kind: 'rejected'; reasonCode: string }
  | LisFailure;

export type CancelOrderOutcome = { kind: 'cancelled' } | LisFailure;

// 408 and 429 say "later"; 409 is what an idempotency-key server answers while the first request
// with the key is still in flight (draft-ietf-httpapi-idempotency-key-header §2.7), so retry too.
const RETRYABLE_4XX: ReadonlySet<number> = new Set([408, 409, 425, 429]);

// The sim (like Stripe-style servers) refuses a key reused with another body; never a business answer.
const KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED';

/** POST /orders: 2xx accepted, 422 a definitive LIS rejection, the rest an error by retryability. */
export function placeOrderOutcome(exchange: HttpExchange): PlaceOrderOutcome {
  if (exchange.kind !== 'response')
    return { kind: 'failed', code: 'LIS_UNAVAILABLE' };
  const { status, body } = exchange;
  if (isSuccess(status)) {
    const lisOrderId = stringField(body, 'lisOrderId');
    return lisOrderId === undefined
      ? { kind: 'failed', code: 'LIS_RESPONSE_INVALID', status }
      : { kind: 'accepted', lisOrderId };
  }
  if (status === 422) {
    const reasonCode = stringField(body, 'reasonCode');
    if (reasonCode === KEY_REUSED)
      return { kind: 'failed', code: 'LIS_IDEMPOTENCY_CONFLICT', status };
    // A 422 is the LIS's answer even without a code: record it as a rejection, never retry it.
    return { kind: 'rejected', reasonCode: reasonCode ?? 'LIS_REJECTED' };
  }
  return failure(status);
}

/** POST /orders/:id/cancel: 2xx cancelled (also "already cancelled"), 404 the LIS lost the order. */
export function cancelOrderOutcome(exchange: HttpExchange): CancelOrderOutcome {
  if (exchange.kind !== 'response')
    return { kind: 'failed', code: 'LIS_UNAVAILABLE' };
  const { status, body } = exchange;
  if (isSuccess(status)) return { kind: 'cancelled' };
  if (status === 404)
    return { kind: 'failed', code: 'LIS_ORDER_UNKNOWN', status };
  if (status === 422 && stringField(body, 'reasonCode') === KEY_REUSED) {
    return { kind: 'failed', code: 'LIS_IDEMPOTENCY_CONFLICT', status };
  }
  return failure(status);
}

function failure(status: number): LisFailure {
  const retryable = status >= 500 || RETRYABLE_4XX.has(status);
  return {
    kind: 'failed',
    code: retryable ? 'LIS_UNAVAILABLE' : 'LIS_REQUEST_INVALID',
    status,
  };
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function stringField(body: unknown, key: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
