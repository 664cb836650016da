import { AppError, assertUnreachable } from '@lifeline/errors';

export const SAGA_ERROR_CODES = ['SAGA_NOT_FOUND', 'SAGA_VERSION_CONFLICT', 'SAGA_DEADLINE_INVALID', 'SAGA_QUERY_INVALID'] as const;

export type SagaErrorCode = (typeof SAGA_ERROR_CODES)[number];

export type SagaErrorDetails = Record<string, string | number | boolean | null>;

// Messages never carry PHI: saga and order ids go into `details`.
function specOf(code: SagaErrorCode): { message: string; retryable: boolean } {
  switch (code) {
    case 'SAGA_NOT_FOUND':
      // Same code as the lab-order saga's: an unknown saga may simply not have started yet.
      return { message: 'saga not found (yet)', retryable: true };
    case 'SAGA_VERSION_CONFLICT':
      // Another writer advanced the saga between our read and our write: re-read and re-apply.
      return { message: 'saga advanced concurrently', retryable: true };
    case 'SAGA_DEADLINE_INVALID':
      // A deadline row this runner cannot interpret is a bug or a newer schema, not a transient fault.
      return { message: 'saga deadline kind not understood', retryable: false };
    case 'SAGA_QUERY_INVALID':
      return { message: 'invalid saga query', retryable: false };
    default:
      return assertUnreachable(code);
  }
}

export function sagaError(code: SagaErrorCode, details: SagaErrorDetails = {}): AppError<SagaErrorCode> {
  const { message, retryable } = specOf(code);
  return new AppError({ code, message, retryable, details });
}
