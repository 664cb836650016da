import type { BillingSystemErrorCode } from './billing-system.errors.js';

import type { HttpExchange } from '@lifeline/messaging';

export type { HttpExchange };

export type ChargeOutcome =
  | { kind: 'ok'; chargeId: string }
  | { kind: 'failed'; code: BillingSystemErrorCode; status?: number };

// 408 and 429 say "later"; 409 is an idempotency-key server's "first request still in flight".
const RETRYABLE_4XX: ReadonlySet<number> = new Set([408, 409, 425, 429]);
const KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED';

/** POST /charges and POST /charges/:id/void: 2xx with a chargeId, 422 a refusal, the rest by retryability. */
export function chargeOutcome(exchange: HttpExchange): ChargeOutcome {
  if (exchange.kind !== 'response')
    return { kind: 'failed', code: 'BILLING_UNAVAILABLE' };
  const { status, body } = exchange;
  if (status >= 200 && status < 300) {
    const chargeId = stringField(body, 'chargeId');
    return chargeId === undefined
      ? { kind: 'failed', code: 'BILLING_RESPONSE_INVALID', status }
      : { kind: 'ok', chargeId };
  }
  if (status === 422) {
    const code =
      stringField(body, 'reasonCode') === KEY_REUSED
        ? 'BILLING_IDEMPOTENCY_CONFLICT'
        : 'BILLING_REJECTED';
    return { kind: 'failed', code, status };
  }
  const retryable = status >= 500 || RETRYABLE_4XX.has(status);
  return {
    kind: 'failed',
    code: retryable ? 'BILLING_UNAVAILABLE' : 'BILLING_REQUEST_INVALID',
    status,
  };
}

function stringField(body: unknown, key: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
