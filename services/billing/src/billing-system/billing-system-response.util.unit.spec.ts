import { describe, expect, it } from '@jest/globals';

import { chargeOutcome } from './billing-system-response.util.js';

describe('chargeOutcome', () => {
  it('2xx with a chargeId is a charge, first time or replayed', () => {
    expect(chargeOutcome({ kind: 'response', status: 201, body: { chargeId: 'CHG-1' } })).toEqual({ kind: 'ok', chargeId: 'CHG-1' });
    expect(chargeOutcome({ kind: 'response', status: 200, body: { chargeId: 'CHG-1', status: 'voided' } })).toEqual({ kind: 'ok', chargeId: 'CHG-1' });
  });

  it('2xx without a chargeId is an invalid answer, not a success', () => {
    expect(chargeOutcome({ kind: 'response', status: 201, body: {} })).toEqual({ kind: 'failed', code: 'BILLING_RESPONSE_INVALID', status: 201 });
  });

  it.each([429, 408, 409, 425, 500, 503])('%i is retryable (unavailable)', (status) => {
    expect(chargeOutcome({ kind: 'response', status, body: null })).toEqual({ kind: 'failed', code: 'BILLING_UNAVAILABLE', status });
  });

  it('timeouts and network errors are retryable', () => {
    expect(chargeOutcome({ kind: 'timeout' })).toEqual({ kind: 'failed', code: 'BILLING_UNAVAILABLE' });
    expect(chargeOutcome({ kind: 'network' })).toEqual({ kind: 'failed', code: 'BILLING_UNAVAILABLE' });
  });

  it('422 is a permanent refusal; a reused key is a conflict on our side', () => {
    expect(chargeOutcome({ kind: 'response', status: 422, body: { reasonCode: 'NO' } })).toEqual({ kind: 'failed', code: 'BILLING_REJECTED', status: 422 });
    expect(chargeOutcome({ kind: 'response', status: 422, body: { reasonCode: 'IDEMPOTENCY_KEY_REUSED' } })).toEqual({
      kind: 'failed',
      code: 'BILLING_IDEMPOTENCY_CONFLICT',
      status: 422,
    });
  });

  it('other 4xx (e.g. 404 unknown charge) are invalid requests, never retried', () => {
    expect(chargeOutcome({ kind: 'response', status: 404, body: null })).toEqual({ kind: 'failed', code: 'BILLING_REQUEST_INVALID', status: 404 });
  });
});
