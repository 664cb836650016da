import { AppError, assertUnreachable } from '@lifeline/errors';

export const LIS_ERROR_CODES = [
  'LIS_UNAVAILABLE',
  'LIS_REQUEST_INVALID',
  'LIS_RESPONSE_INVALID',
  'LIS_IDEMPOTENCY_CONFLICT',
  'LIS_ORDER_UNKNOWN',
] as const;

export type LisErrorCode = (typeof LIS_ERROR_CODES)[number];

export type LisErrorDetails = Record<string, string | number | boolean | null>;

// Messages never carry PHI: ids and HTTP status go into `details`, never request or response bodies.
function specOf(code: LisErrorCode): { message: string; retryable: boolean } {
  switch (code) {
    case 'LIS_UNAVAILABLE':
      // Timeout, network error, 408/409/429 or 5xx: the same Idempotency-Key makes the retry safe.
      return {
        message: 'LIS did not answer in time or is overloaded',
        retryable: true,
      };
    case 'LIS_REQUEST_INVALID':
      return {
        message: 'LIS refused the request as invalid',
        retryable: false,
      };
    case 'LIS_RESPONSE_INVALID':
      // The LIS replays the same answer for the key, so retrying cannot fix it.
      return {
        message: 'LIS answered with an unexpected body',
        retryable: false,
      };
    case 'LIS_IDEMPOTENCY_CONFLICT':
      // One key, two different requests: a bug on our side that must not get the old answer.
      return {
        message: 'LIS saw this Idempotency-Key with a different request',
        retryable: false,
      };
    case 'LIS_ORDER_UNKNOWN':
      // We recorded an acceptance the LIS no longer knows: a failed compensation a human must see.
      return {
        message: 'LIS does not know the LIS order id',
        retryable: false,
      };
    default:
      return assertUnreachable(code);
  }
}

export function lisError(
  code: LisErrorCode,
  details: LisErrorDetails = {},
): AppError<LisErrorCode> {
  const { message, retryable } = specOf(code);
  return new AppError({ code, message, retryable, details });
}
