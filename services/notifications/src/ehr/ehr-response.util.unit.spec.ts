import { describe, expect, it } from '@jest/globals';

import { isAppError } from '@lifeline/errors';

import { EHR_ERROR_CODES, ehrError } from './ehr.errors.js';
import {
  deliverMessageOutcome,
  type HttpExchange,
} from './ehr-response.util.js';

const response = (status: number, body: unknown = null): HttpExchange => ({
  kind: 'response',
  status,
  body,
});

describe('deliverMessageOutcome', () => {
  it('reads the EHR message id of a 201 (first delivery or replay) or any 2xx', () => {
    expect(
      deliverMessageOutcome(response(201, { messageId: 'EHR-MSG-1' })),
    ).toEqual({ kind: 'delivered', messageId: 'EHR-MSG-1' });
    expect(
      deliverMessageOutcome(response(200, { messageId: 'EHR-MSG-2' })),
    ).toEqual({ kind: 'delivered', messageId: 'EHR-MSG-2' });
  });

  it.each([null, {}, { messageId: '' }, { messageId: 7 }])(
    'refuses a success without a message id: %p',
    (body) => {
      expect(deliverMessageOutcome(response(201, body))).toEqual({
        kind: 'failed',
        code: 'EHR_RESPONSE_INVALID',
        status: 201,
      });
    },
  );

  it('treats a 422 as a final refusal, and a reused key as our bug', () => {
    expect(
      deliverMessageOutcome(response(422, { reasonCode: 'EHR_REJECTED' })),
    ).toEqual({ kind: 'failed', code: 'EHR_REJECTED', status: 422 });
    expect(
      deliverMessageOutcome(
        response(422, { reasonCode: 'IDEMPOTENCY_KEY_REUSED' }),
      ),
    ).toEqual({
      kind: 'failed',
      code: 'EHR_IDEMPOTENCY_CONFLICT',
      status: 422,
    });
  });

  it.each([500, 502, 503, 504, 408, 409, 425, 429])(
    'retries on %i',
    (status) => {
      expect(deliverMessageOutcome(response(status))).toEqual({
        kind: 'failed',
        code: 'EHR_INBOX_UNAVAILABLE',
        status,
      });
    },
  );

  it.each([400, 401, 403, 404, 413, 302])('does not retry %i', (status) => {
    expect(deliverMessageOutcome(response(status))).toEqual({
      kind: 'failed',
      code: 'EHR_REQUEST_INVALID',
      status,
    });
  });

  it.each([{ kind: 'timeout' } as const, { kind: 'network' } as const])(
    'retries after $kind',
    (exchange) => {
      expect(deliverMessageOutcome(exchange)).toEqual({
        kind: 'failed',
        code: 'EHR_INBOX_UNAVAILABLE',
      });
    },
  );
});

describe('ehrError', () => {
  it.each(EHR_ERROR_CODES.map((code) => [code]))(
    'builds a coded AppError for %s',
    (code) => {
      const err = ehrError(code, { notificationId: 'n-1' });
      expect(isAppError(err, code)).toBe(true);
      expect(err.retryable).toBe(code === 'EHR_INBOX_UNAVAILABLE');
      expect(err.message).not.toBe('');
      expect(err.details).toEqual({ notificationId: 'n-1' });
    },
  );
});
