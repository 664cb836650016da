export { parseHl7, Hl7Message, Hl7Segment } from './hl7-parse.util.js';
export { parseMsh } from './hl7-msh.util.js';
export {
  classifyHl7Priority,
  orderSegmentsPriority,
  observationsPriority,
  isCriticalFlag,
  CRITICAL_ABNORMAL_FLAGS,
} from './hl7-priority.util.js';
export type { Hl7Priority, Hl7OrderSegments } from './hl7-priority.util.js';
export type { Hl7Msh } from './hl7-msh.util.js';
export { escapeHl7, unescapeHl7, DEFAULT_ENCODING } from './hl7-escape.util.js';
export type { Hl7EncodingCharacters } from './hl7-escape.util.js';
export { hl7DateTimeToIso, formatHl7DateTime } from './hl7-datetime.util.js';
export { buildAck, ackModeFor, acceptCode } from './hl7-ack.util.js';
export type {
  AckCode,
  AckMode,
  AcceptOutcome,
  AckError,
  BuildAckInput,
} from './hl7-ack.util.js';
export {
  MllpFramer,
  frameMllp,
  MLLP_START,
  MLLP_END,
  MLLP_CR,
} from './mllp-framer.util.js';
export type { MllpFrameEvent } from './mllp-framer.util.js';
export { MllpServer } from './mllp-server.js';
export type {
  MllpServerOptions,
  MllpInboundMessage,
  MllpConnectionInfo,
  MllpServerErrorPhase,
} from './mllp-server.js';
export { MllpClient } from './mllp-client.js';
export { hl7ErrorMessage } from './hl7.errors.js';
export type { Hl7ErrorCode } from './hl7.errors.js';
