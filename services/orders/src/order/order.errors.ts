import { AppError, assertUnreachable } from '@lifeline/errors';

export const ORDER_ERROR_CODES = [
  'ORDER_NOT_FOUND',
  'ORDER_ID_MISMATCH',
  'ORDER_LIS_ID_CONFLICT',
] as const;

export type OrderErrorCode = (typeof ORDER_ERROR_CODES)[number];

export type OrderErrorDetails = Record<string, string | number | boolean | null>;

interface OrderErrorSpec {
  message: string;
  retryable: boolean;
}

// Messages never carry PHI: ids go into `details`, never patient data or payload text.
function specOf(code: OrderErrorCode): OrderErrorSpec {
  switch (code) {
    case 'ORDER_NOT_FOUND':
      // Facts about an order travel on other consumers than its placement, so the placement may
      // simply not have arrived yet: the transport retries with backoff.
      return { message: 'lab order not placed (yet)', retryable: true };
    case 'ORDER_ID_MISMATCH':
      // A command routed to the wrong stream is a bug, not a transient condition.
      return { message: 'command order id does not match the stream', retryable: false };
    case 'ORDER_LIS_ID_CONFLICT':
      // Two LIS orders for one lab order may mean a duplicate order at the lab: a human looks.
      return { message: 'lab order already accepted under another LIS order id', retryable: false };
    default:
      return assertUnreachable(code);
  }
}

export function orderError(code: OrderErrorCode, details: OrderErrorDetails = {}): AppError<OrderErrorCode> {
  const { message, retryable } = specOf(code);
  return new AppError({ code, message, retryable, details });
}
