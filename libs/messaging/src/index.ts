export { JetStreamServer } from './jetstream.server.js';
export type { JetStreamServerOptions, MessagingErrorCode } from './jetstream.server.js';
export { JetStreamContext, ConsumeEvent } from './jetstream.context.js';
export { JetStreamPublisher } from './jetstream.publisher.js';
export type { RawPublish } from './jetstream.publisher.js';
export {
  MessagingModule,
  NATS_CONNECTION,
  NATS_NAMING,
  PassThroughRpcExceptionFilter,
  connectJetStream,
} from './messaging.module.js';
export type { MessagingModuleOptions } from './messaging.module.js';
export { checkJetStream } from './jetstream.health.js';
export type { JetStreamHealth } from './jetstream.health.js';
export { provisionTopology, provisionTopologyAt, deleteTopology } from './provision.js';
export type { ProvisionOptions } from './provision.js';
export { DEFAULT_RETRY_POLICY, backoffCap, backoffDelay, decideAck } from './retry-policy.js';
export type { RetryPolicy, AckDecision, ErrorClass } from './retry-policy.js';
export { buildDeadLetter, deadLetterSubject, deadLetterMsgId } from './dead-letter.js';
export { CONTENT_TYPE_HEADER, HL7V2_CONTENT_TYPE, toNatsHeaders, headersToRecord, headerSource } from './header-codec.js';
export { Semaphore } from './semaphore.util.js';
