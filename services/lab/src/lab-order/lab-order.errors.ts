import { AppError, assertUnreachable } from '@lifeline/errors';

export const LAB_ORDER_ERROR_CODES = [
  'LAB_COMMAND_UNKNOWN',
  'LAB_ORDER_NOT_FOUND',
  'LAB_ORDER_CANCELLED',
  'LAB_ORDER_CONFLICT',
  'LAB_ORDER_CHANGED',
] as const;

export type LabOrderErrorCode = (typeof LAB_ORDER_ERROR_CODES)[number];

export type LabOrderErrorDetails = Record<
  string,
  string | number | boolean | null
>;

// Messages never carry PHI: ids go into `details`, never patient data or payload text.
function specOf(code: LabOrderErrorCode): {
  message: string;
  retryable: boolean;
} {
  switch (code) {
    case 'LAB_COMMAND_UNKNOWN':
      // A type on cmd.lab.> this version does not know: retrying cannot teach it (dead letter).
      return { message: 'unknown lab command type', retryable: false };
    case 'LAB_ORDER_NOT_FOUND':
      return {
        message: 'lab order not known to the lab service',
        retryable: false,
      };
    case 'LAB_ORDER_CANCELLED':
      // Placing an order we already closed at the lab would create a live LIS order nobody wants.
      return {
        message: 'lab order was cancelled before the LIS accepted it',
        retryable: false,
      };
    case 'LAB_ORDER_CONFLICT':
      // Two different LIS answers for one order may mean two orders at the lab: a human looks.
      return {
        message: 'lab order already recorded with another LIS outcome',
        retryable: false,
      };
    case 'LAB_ORDER_CHANGED':
      // The row moved between the read and the write (e.g. an acceptance committed meanwhile): re-read.
      return { message: 'lab order changed concurrently', retryable: true };
    default:
      return assertUnreachable(code);
  }
}

export function labOrderError(
  code: LabOrderErrorCode,
  details: LabOrderErrorDetails = {},
): AppError<LabOrderErrorCode> {
  const { message, retryable } = specOf(code);
  return new AppError({ code, message, retryable, details });
}
