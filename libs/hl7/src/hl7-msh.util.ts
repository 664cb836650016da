import type { AppError } from '@lifeline/errors';

import { hl7Error } from './hl7.errors.js';
import type { Hl7ErrorCode } from './hl7.errors.js';
import { DEFAULT_ENCODING, escapeHl7 } from './hl7-escape.util.js';
import type { Hl7EncodingCharacters } from './hl7-escape.util.js';
import { Hl7Message, parseHl7 } from './hl7-parse.util.js';
import type { Hl7Segment } from './hl7-parse.util.js';

/** The header fields that routing, ACKs and dedup need. */
export interface Hl7Msh {
  encoding: Hl7EncodingCharacters;
  /**
   * MSH-3..6 are whole HD values re-encoded with the standard `^~\&` delimiters (e.g.
   * `GHHSFacility^2.16.840.1.122848.1.30^ISO`), ready to echo into an ACK.
   */
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-7.1 as sent (HL7 DTM). */
  dateTime: string;
  /** `${MSH-9.1}^${MSH-9.2}`, e.g. `ORM^O01` (just the code when there is no trigger). */
  messageType: string;
  messageCode: string;
  triggerEvent: string;
  messageStructure: string;
  /** MSH-10, unescaped. */
  controlId: string;
  processingId: string;
  version: string;
  acceptAckType: string;
  applicationAckType: string;
}

function invalid(
  field: string,
  what: string,
  controlId?: string,
): AppError<Hl7ErrorCode> {
  return hl7Error({
    code: 'HL7_MSH_INVALID',
    detail: `${field} (${what}) is empty`,
    details: controlId === undefined ? { field } : { field, controlId },
  });
}

/** Whole first repetition of a field, re-encoded with the standard delimiters. */
function canonical(seg: Hl7Segment, n: number): string {
  return seg
    .parts(n)
    .map((comp) =>
      comp
        .map((sub) => escapeHl7(sub, DEFAULT_ENCODING))
        .join(DEFAULT_ENCODING.subcomponent),
    )
    .join(DEFAULT_ENCODING.component)
    .replace(/\^+$/, '');
}

/**
 * Reads and checks the MSH of a message (text, bytes or already parsed). Throws `AppError`
 * `HL7_MSH_INVALID` (not retryable) with `details.field` when MSH-1/2 are bad or MSH-9.1, MSH-10 or
 * MSH-12 is empty. Messages name field positions only, never values.
 */
export function parseMsh(input: string | Buffer | Hl7Message): Hl7Msh {
  const msg = input instanceof Hl7Message ? input : parseHl7(input);
  const msh = msg.segments[0];
  if (msh === undefined || msh.name !== 'MSH')
    throw invalid('MSH', 'header segment');
  const messageCode = msh.value(9, 1, 1).trim();
  const controlId = msh.value(10);
  const version = msh.value(12).trim();
  if (messageCode === '') throw invalid('MSH-9', 'message type');
  if (controlId.trim() === '') throw invalid('MSH-10', 'message control id');
  if (version === '') throw invalid('MSH-12', 'version id', controlId);
  const triggerEvent = msh.value(9, 1, 2).trim();
  return {
    encoding: msg.encoding,
    sendingApplication: canonical(msh, 3),
    sendingFacility: canonical(msh, 4),
    receivingApplication: canonical(msh, 5),
    receivingFacility: canonical(msh, 6),
    dateTime: msh.value(7).trim(),
    messageType:
      triggerEvent === '' ? messageCode : `${messageCode}^${triggerEvent}`,
    messageCode,
    triggerEvent,
    messageStructure: msh.value(9, 1, 3).trim(),
    controlId,
    processingId: msh.value(11).trim(),
    version,
    acceptAckType: msh.value(15).trim(),
    applicationAckType: msh.value(16).trim(),
  };
}
