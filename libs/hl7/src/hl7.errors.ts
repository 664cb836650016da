import { AppError, assertUnreachable } from '@lifeline/errors';

export type Hl7ErrorCode =
  | 'HL7_MSH_INVALID'
  | 'MLLP_NOT_CONNECTED'
  | 'MLLP_CONNECTION_CLOSED'
  | 'MLLP_ACK_TIMEOUT'
  | 'MLLP_ACK_TOO_LARGE';

export function hl7ErrorMessage(code: Hl7ErrorCode): string {
  switch (code) {
    case 'HL7_MSH_INVALID':
      return 'message does not start with a valid MSH segment';
    case 'MLLP_NOT_CONNECTED':
      return 'MLLP client is not connected';
    case 'MLLP_CONNECTION_CLOSED':
      return 'MLLP connection closed before the ACK arrived';
    case 'MLLP_ACK_TIMEOUT':
      return 'no MLLP ACK within the timeout';
    case 'MLLP_ACK_TOO_LARGE':
      return 'MLLP ACK frame exceeds the maximum size';
    default:
      return assertUnreachable(code);
  }
}

// Retrying cannot fix a malformed header; transport failures may heal on reconnect.
const RETRYABLE: Readonly<Record<Hl7ErrorCode, boolean>> = {
  HL7_MSH_INVALID: false,
  MLLP_NOT_CONNECTED: true,
  MLLP_CONNECTION_CLOSED: true,
  MLLP_ACK_TIMEOUT: true,
  MLLP_ACK_TOO_LARGE: false,
};

/** Builds an `AppError` for this lib. `detail` and `details` must never carry PHI. */
export function hl7Error(params: {
  code: Hl7ErrorCode;
  detail?: string;
  details?: Record<string, string | number | boolean | null>;
  cause?: unknown;
}): AppError<Hl7ErrorCode> {
  const base = hl7ErrorMessage(params.code);
  return new AppError<Hl7ErrorCode>({
    code: params.code,
    retryable: RETRYABLE[params.code],
    message: params.detail === undefined ? base : `${base}: ${params.detail}`,
    details: params.details,
    cause: params.cause,
  });
}
