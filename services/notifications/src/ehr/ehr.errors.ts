import { AppError, assertUnreachable } from '@lifeline/errors';

export const EHR_ERROR_CODES = [
  'EHR_INBOX_UNAVAILABLE',
  'EHR_REJECTED',
  'EHR_REQUEST_INVALID',
  'EHR_RESPONSE_INVALID',
  'EHR_IDEMPOTENCY_CONFLICT',
] as const;

export type EhrErrorCode = (typeof EHR_ERROR_CODES)[number];

export type EhrErrorDetails = Record<string, string | number | boolean | null>;

// Messages never carry PHI: ids and HTTP status go into `details`, never request or response bodies.
function specOf(code: EhrErrorCode): { message: string; retryable: boolean } {
  switch (code) {
    case 'EHR_INBOX_UNAVAILABLE':
      // Timeout, network error, 408/409/429 or 5xx: the same Idempotency-Key makes the retry a replay.
      return {
        message: 'EHR inbox did not answer in time or is overloaded',
        retryable: true,
      };
    case 'EHR_REJECTED':
      // The EHR said no (422): retrying gets the same answer; an undelivered notice must reach a human.
      return { message: 'EHR inbox refused the message', retryable: false };
    case 'EHR_REQUEST_INVALID':
      return {
        message: 'EHR inbox refused the request as invalid',
        retryable: false,
      };
    case 'EHR_RESPONSE_INVALID':
      // The EHR replays the same answer for the key, so retrying cannot fix it.
      return {
        message: 'EHR inbox answered with an unexpected body',
        retryable: false,
      };
    case 'EHR_IDEMPOTENCY_CONFLICT':
      // One key, two different requests: a bug on our side that must not get the old answer.
      return {
        message: 'EHR inbox saw this Idempotency-Key with a different request',
        retryable: false,
      };
    default:
      return assertUnreachable(code);
  }
}

export function ehrError(
  code: EhrErrorCode,
  details: EhrErrorDetails = {},
): AppError<EhrErrorCode> {
  const { message, retryable } = specOf(code);
  return new AppError({ code, message, retryable, details });
}
