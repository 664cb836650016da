import { AppError, assertUnreachable } from '@lifeline/errors';

export const CHARGE_ERROR_CODES = [
  'BILLING_COMMAND_UNKNOWN',
  'CHARGE_CONFLICT',
] as const;

export type ChargeErrorCode = (typeof CHARGE_ERROR_CODES)[number];

export type ChargeErrorDetails = Record<string, string | number | boolean | null>;

// Messages never carry PHI: ids go into `details`.
function specOf(code: ChargeErrorCode): { message: string; retryable: boolean } {
  switch (code) {
    case 'BILLING_COMMAND_UNKNOWN':
      // A type on cmd.billing.> this version does not know: retrying cannot teach it (dead letter).
      return { message: 'unknown billing command type', retryable: false };
    case 'CHARGE_CONFLICT':
      // The order already holds another charge: billing it twice would be the bug this prevents.
      return { message: 'order already has a different charge', retryable: false };
    default:
      return assertUnreachable(code);
  }
}

export function chargeError(
  code: ChargeErrorCode,
  details: ChargeErrorDetails = {},
): AppError<ChargeErrorCode> {
  const { message, retryable } = specOf(code);
  return new AppError({ code, message, retryable, details });
}
