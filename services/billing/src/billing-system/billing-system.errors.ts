import { AppError, assertUnreachable } from '@lifeline/errors';

export const BILLING_SYSTEM_ERROR_CODES = [
  'BILLING_UNAVAILABLE',
  'BILLING_REJECTED',
  'BILLING_REQUEST_INVALID',
  'BILLING_RESPONSE_INVALID',
  'BILLING_IDEMPOTENCY_CONFLICT',
] as const;

export type BillingSystemErrorCode = (typeof BILLING_SYSTEM_ERROR_CODES)[number];

export type BillingSystemErrorDetails = Record<
  string,
  string | number | boolean | null
>;

// Messages never carry PHI: ids and HTTP status go into `details`, never bodies.
function specOf(code: BillingSystemErrorCode): {
  message: string;
  retryable: boolean;
} {
  switch (code) {
    case 'BILLING_UNAVAILABLE':
      // Timeout, network error, 408/409/425/429 or 5xx: the same Idempotency-Key makes a retry a replay.
      return {
        message: 'billing system did not answer in time or is overloaded',
        retryable: true,
      };
    case 'BILLING_REJECTED':
      // 422: the billing system said no; retrying gets the same answer.
      return { message: 'billing system refused the request', retryable: false };
    case 'BILLING_REQUEST_INVALID':
      return {
        message: 'billing system refused the request as invalid',
        retryable: false,
      };
    case 'BILLING_RESPONSE_INVALID':
      return {
        message: 'billing system answered with an unexpected body',
        retryable: false,
      };
    case 'BILLING_IDEMPOTENCY_CONFLICT':
      // One key, two different requests: a bug on our side that must not get the old answer.
      return {
        message: 'billing system saw this Idempotency-Key with a different request',
        retryable: false,
      };
    default:
      return assertUnreachable(code);
  }
}

export function billingSystemError(
  code: BillingSystemErrorCode,
  details: BillingSystemErrorDetails = {},
): AppError<BillingSystemErrorCode> {
  const { message, retryable } = specOf(code);
  return new AppError({ code, message, retryable, details });
}
