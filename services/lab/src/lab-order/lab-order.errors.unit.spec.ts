import { describe, expect, it } from '@jest/globals';

import { isAppError } from '@lifeline/errors';

import { LAB_ORDER_ERROR_CODES, labOrderError } from './lab-order.errors.js';

describe('labOrderError', () => {
  it.each(LAB_ORDER_ERROR_CODES.map((code) => [code]))(
    'builds a coded AppError for %s',
    (code) => {
      const err = labOrderError(code, { orderId: 'ord-1' });
      expect(isAppError(err, code)).toBe(true);
      // only a concurrent change is worth retrying; the rest needs a human or a new version
      expect(err.retryable).toBe(code === 'LAB_ORDER_CHANGED');
      expect(err.message).not.toBe('');
      expect(err.details).toEqual({ orderId: 'ord-1' });
    },
  );
});
