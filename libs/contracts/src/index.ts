export { SUBJECTS } from './subjects.js';
export type { Subject } from './subjects.js';
export { createNaming } from './naming.js';
export type { Naming } from './naming.js';
export { STREAMS, CONSUMERS, consumersOf, consumerByDurable, subjectMatches } from './topology.js';
export type { StreamSpec, ConsumerSpec, StreamName, ServiceName } from './topology.js';
export {
  HEADERS,
  newEnvelope,
  causedBy,
  envelopeToHeaders,
  envelopeFromHeaders,
  EnvelopeHeaderError,
  idempotencyKey,
} from './envelope.js';
export type { Envelope, NewEnvelope, Priority, HeaderReader } from './envelope.js';
export * from './schemas.js';
export { DeadLetterV1 } from './dead-letter.js';
export {
  STAT_LANE_TOKEN,
  LANED_STREAMS,
  STAT_LANE_CONCURRENCY,
  isStatLane,
  laneSubject,
  routineSubject,
  statLaneOf,
  withPriorityLanes,
  routineDurable,
  laneStream,
} from './lanes.js';
