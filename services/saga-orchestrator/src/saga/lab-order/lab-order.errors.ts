import { AppError, assertUnreachable } from '@lifeline/errors';

export const LAB_ORDER_SAGA_ERROR_CODES = ['SAGA_NOT_FOUND'] as const;

export type LabOrderSagaErrorCode = (typeof LAB_ORDER_SAGA_ERROR_CODES)[number];

export type LabOrderSagaErrorDetails = Record<string, string | number | boolean | null>;

function specOf(code: LabOrderSagaErrorCode): { message: string; retryable: boolean } {
  switch (code) {
    case 'SAGA_NOT_FOUND':
      // Only a placement or a cancel may start a saga; anything else for an unknown saga is
      // either early (its start is still on its way) or foreign: retry, then dead-letter.
      return { message: 'lab order saga not started (yet)', retryable: true };
    default:
      return assertUnreachable(code);
  }
}

export function labOrderSagaError(
  code: LabOrderSagaErrorCode,
  details: LabOrderSagaErrorDetails = {},
): AppError<LabOrderSagaErrorCode> {
  const { message, retryable } = specOf(code);
  return new AppError({ code, message, retryable, details });
}
