import { describe, expect, it } from '@jest/globals';

import { isAppError } from '@lifeline/errors';

import {
  NOTIFICATION_ERROR_CODES,
  notificationError,
} from './notification.errors.js';

describe('notificationError', () => {
  it.each(NOTIFICATION_ERROR_CODES.map((code) => [code]))(
    'builds a non-retryable coded AppError for %s',
    (code) => {
      const err = notificationError(code, { type: 'cmd.notify.pager.v1' });
      expect(isAppError(err, code)).toBe(true);
      expect(err.retryable).toBe(false);
      expect(err.message).not.toBe('');
    },
  );
});
