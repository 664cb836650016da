import type { EhrErrorCode } from './ehr.errors.js';

import type { HttpExchange } from '@lifeline/messaging';

export type { HttpExchange };

export type DeliverMessageOutcome =
  | { kind: 'delivered'; messageId: string }
  | { kind: 'failed'; code: EhrErrorCode; status?: number };

// 408 and 429 say "later"; 409 is what an idempotency-key server answers while the first request
// with the key is still in flight (draft-ietf-httpapi-idempotency-key-header §2.7), so retry too.
const RETRYABLE_4XX: ReadonlySet<number> = new Set([408, 409, 425, 429]);

// The sim (like Stripe-style servers) refuses a key reused with another body; never a business answer.
const KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED';

/** POST /inbox/messages: 2xx delivered (first time or replayed), 422 a refusal, the rest by retryability. */
export function deliverMessageOutcome(
  exchange: HttpExchange,
): DeliverMessageOutcome {
  if (exchange.kind !== 'response')
    return { kind: 'failed', code: 'EHR_INBOX_UNAVAILABLE' };
  const { status, body } = exchange;
  if (status >= 200 && status < 300) {
    const messageId = stringField(body, 'messageId');
    return messageId === undefined
      ? { kind: 'failed', code: 'EHR_RESPONSE_INVALID', status }
      : { kind: 'delivered', messageId };
  }
  if (status === 422) {
    const code =
      stringField(body, 'reasonCode') === KEY_REUSED
        ? 'EHR_IDEMPOTENCY_CONFLICT'
        : 'EHR_REJECTED';
    return { kind: 'failed', code, status };
  }
  const retryable = status >= 500 || RETRYABLE_4XX.has(status);
  return {
    kind: 'failed',
    code: retryable ? 'EHR_INBOX_UNAVAILABLE' : 'EHR_REQUEST_INVALID',
    status,
  };
}

function stringField(body: unknown, key: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
