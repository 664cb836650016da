import { describe, expect, it } from '@jest/globals';

import { isAppError } from '@lifeline/errors';

import { LIS_ERROR_CODES, lisError } from './lis.errors.js';
import {
  cancelOrderOutcome,
  placeOrderOutcome,
  type HttpExchange,
} from './lis-response.util.js';

const response = (status: number, body: unknown = null): HttpExchange => ({
  kind: 'response',
  status,
  body,
});

describe('placeOrderOutcome', () => {
  it('reads the LIS order id of a 201 (or any 2xx)', () => {
    expect(
      placeOrderOutcome(
        response(201, { lisOrderId: 'LIS-1', status: 'accepted' }),
      ),
    ).toEqual({ kind: 'accepted', lisOrderId: 'LIS-1' });
    expect(placeOrderOutcome(response(200, { lisOrderId: 'LIS-2' }))).toEqual({
      kind: 'accepted',
      lisOrderId: 'LIS-2',
    });
  });

  it.each([null, {}, { lisOrderId: '' }, { lisOrderId: 42 }, 'LIS-1'])(
    'refuses a success without a LIS order id: %p',
    (body) => {
      expect(placeOrderOutcome(response(201, body))).toEqual({
        kind: 'failed',
        code: 'LIS_RESPONSE_INVALID',
        status: 201,
      });
    },
  );

  it('turns a 422 into a definitive rejection with its reason code', () => {
    expect(
      placeOrderOutcome(response(422, { reasonCode: 'LIS_REJECTED' })),
    ).toEqual({ kind: 'rejected', reasonCode: 'LIS_REJECTED' });
    expect(
      placeOrderOutcome(response(422, { reasonCode: 'TEST_NOT_OFFERED' })),
    ).toEqual({ kind: 'rejected', reasonCode: 'TEST_NOT_OFFERED' });
  });

  it('still treats a 422 without a reason code as a rejection', () => {
    expect(placeOrderOutcome(response(422, null))).toEqual({
      kind: 'rejected',
      reasonCode: 'LIS_REJECTED',
    });
  });

  it('never mistakes a reused idempotency key for a business rejection', () => {
    expect(
      placeOrderOutcome(
        response(422, { reasonCode: 'IDEMPOTENCY_KEY_REUSED' }),
      ),
    ).toEqual({
      kind: 'failed',
      code: 'LIS_IDEMPOTENCY_CONFLICT',
      status: 422,
    });
  });

  it.each([500, 502, 503, 504, 408, 409, 425, 429])(
    'retries on %i',
    (status) => {
      expect(placeOrderOutcome(response(status))).toEqual({
        kind: 'failed',
        code: 'LIS_UNAVAILABLE',
        status,
      });
    },
  );

  it.each([400, 401, 403, 404, 405, 413, 301])(
    'does not retry %i',
    (status) => {
      expect(placeOrderOutcome(response(status))).toEqual({
        kind: 'failed',
        code: 'LIS_REQUEST_INVALID',
        status,
      });
    },
  );

  it.each([{ kind: 'timeout' } as const, { kind: 'network' } as const])(
    'retries after $kind',
    (exchange) => {
      expect(placeOrderOutcome(exchange)).toEqual({
        kind: 'failed',
        code: 'LIS_UNAVAILABLE',
      });
    },
  );
});

describe('cancelOrderOutcome', () => {
  it('treats any 2xx as cancelled (the LIS answers 200 for an already cancelled order too)', () => {
    expect(cancelOrderOutcome(response(200, { status: 'cancelled' }))).toEqual({
      kind: 'cancelled',
    });
    expect(cancelOrderOutcome(response(204))).toEqual({ kind: 'cancelled' });
  });

  it('reports a LIS order the LIS does not know as final', () => {
    expect(
      cancelOrderOutcome(response(404, { reasonCode: 'LIS_ORDER_NOT_FOUND' })),
    ).toEqual({ kind: 'failed', code: 'LIS_ORDER_UNKNOWN', status: 404 });
  });

  it('maps a reused key, other 4xx and retryable statuses like placement does', () => {
    expect(
      cancelOrderOutcome(
        response(422, { reasonCode: 'IDEMPOTENCY_KEY_REUSED' }),
      ),
    ).toMatchObject({ code: 'LIS_IDEMPOTENCY_CONFLICT' });
    expect(
      cancelOrderOutcome(response(422, { reasonCode: 'TOO_LATE' })),
    ).toMatchObject({ code: 'LIS_REQUEST_INVALID' });
    expect(cancelOrderOutcome(response(503))).toMatchObject({
      code: 'LIS_UNAVAILABLE',
    });
    expect(cancelOrderOutcome(response(429))).toMatchObject({
      code: 'LIS_UNAVAILABLE',
    });
    expect(cancelOrderOutcome({ kind: 'timeout' })).toMatchObject({
      code: 'LIS_UNAVAILABLE',
    });
  });
});

describe('lisError', () => {
  it.each(LIS_ERROR_CODES.map((code) => [code]))(
    'builds a coded AppError for %s',
    (code) => {
      const err = lisError(code, { orderId: 'ord-1' });
      expect(isAppError(err, code)).toBe(true);
      expect(err.retryable).toBe(code === 'LIS_UNAVAILABLE');
      expect(err.message).not.toBe('');
      expect(err.details).toEqual({ orderId: 'ord-1' });
    },
  );
});
