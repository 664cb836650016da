import { AppError, assertUnreachable } from '@lifeline/errors';

/** Why an HL7 message produced no canonical events. None is retryable: the message itself is wrong. */
export type Hl7MappingErrorCode =
  | 'HL7_UNSUPPORTED_MESSAGE_TYPE'
  | 'HL7_REQUIRED_FIELD_MISSING'
  | 'HL7_NO_ORDER_GROUP'
  | 'HL7_CANONICAL_INVALID'
  | 'HL7_UNSUPPORTED_ORDER_CONTROL';

export const HL7_MAPPING_ERROR_CODES: readonly Hl7MappingErrorCode[] = [
  'HL7_UNSUPPORTED_MESSAGE_TYPE',
  'HL7_REQUIRED_FIELD_MISSING',
  'HL7_NO_ORDER_GROUP',
  'HL7_CANONICAL_INVALID',
  'HL7_UNSUPPORTED_ORDER_CONTROL',
];

export function hl7MappingErrorMessage(code: Hl7MappingErrorCode): string {
  switch (code) {
    case 'HL7_UNSUPPORTED_MESSAGE_TYPE':
      return 'message type is not mapped (ORM^O01, OML^O21, ORU^R01 are)';
    case 'HL7_REQUIRED_FIELD_MISSING':
      return 'a required field is empty';
    case 'HL7_NO_ORDER_GROUP':
      return 'message has no ORC/OBR order group';
    case 'HL7_CANONICAL_INVALID':
      return 'mapped payload does not match its canonical schema';
    case 'HL7_UNSUPPORTED_ORDER_CONTROL':
      return 'order control code is not mapped (NW, CA are)';
    default:
      return assertUnreachable(code);
  }
}

/** The PHI-free refusal of a message (`field` is an HL7 position such as 'PID-3'). */
export interface MappingRefusal {
  kind: 'refused';
  code: Hl7MappingErrorCode;
  field?: string;
  reason: string;
}

export function refuse(
  code: Hl7MappingErrorCode,
  field?: string,
  detail?: string,
): MappingRefusal {
  const where = field === undefined ? '' : ` at ${field}`;
  const extra = detail === undefined ? '' : ` (${detail})`;
  return {
    kind: 'refused',
    code,
    field,
    reason: `${hl7MappingErrorMessage(code)}${where}${extra}`,
  };
}

/** For the consumer edge: a refusal as a non-retryable `AppError` (dead-lettered, never retried). */
export function refusalToAppError(
  refusal: MappingRefusal,
): AppError<Hl7MappingErrorCode> {
  return new AppError<Hl7MappingErrorCode>({
    code: refusal.code,
    retryable: false,
    message: refusal.reason,
    details: refusal.field === undefined ? {} : { field: refusal.field },
  });
}
