import type { Hl7Message } from '@lifeline/hl7';

import { refuse } from './hl7-mapping.errors.js';
import type { MappingContext, MappingOutcome } from './hl7-mapping.util.js';
import { mapOrderMessage } from './order-message.mapper.js';
import { mapResultMessage } from './result-message.mapper.js';

// Only well-formed type codes go into the reason; anything else from the wire could be PHI.
const TYPE_CODE = /^[A-Z0-9]{3}(\^[A-Z0-9]{3})?$/;

/**
 * Maps a parsed HL7 v2 message to canonical events, or refuses it with a PHI-free reason.
 * Pure: no I/O, no clock; never throws for any message content.
 */
export function mapHl7Message(
  msg: Hl7Message,
  ctx: MappingContext,
): MappingOutcome {
  const code = msg.field('MSH', 9, 1, 1).trim();
  const trigger = msg.field('MSH', 9, 1, 2).trim();
  const type = trigger === '' ? code : `${code}^${trigger}`;
  switch (type) {
    case 'ORM^O01':
    case 'OML^O21':
      return mapOrderMessage(msg, ctx);
    case 'ORU^R01':
      return mapResultMessage(msg, ctx);
    default:
      return refuse(
        'HL7_UNSUPPORTED_MESSAGE_TYPE',
        'MSH-9',
        TYPE_CODE.test(type) ? type : 'unrecognised',
      );
  }
}
