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
export {
  DEFAULT_RETRY_POLICY,
  DEFAULT_POLICY_SET,
  RETRY_ACTIONS,
  backoffCap,
  backoffDelay,
  decideAck,
  errorClassOf,
  policySetFrom,
} from './retry-policy.js';
export type {
  RetryPolicy,
  AckDecision,
  ErrorClass,
  RetryAction,
  ClassPolicy,
  PolicySet,
  AttemptRecord,
  DeadLetterReason,
} from './retry-policy.js';
export {
  RetryPoliciesConfig,
  RetryPolicyConfigError,
  RetryPolicyResolver,
  DEFAULT_PARKED_TYPE_PREFIXES,
  loadRetryPoliciesConfig,
  parseRetryPoliciesConfig,
} from './retry-policy.config.js';
export type { PolicyPatch, PolicyScope } from './retry-policy.config.js';
export { AttemptStore } from './attempt.store.js';
export { ParkingStore, PARKING_METRICS } from './parking.store.js';
export { RetryHeadStore } from './retry-head.store.js';
export type { RetryHead } from './retry-head.store.js';
export type { ParkedEntry } from './parking.store.js';
export { PatientOrderGate } from './patient-order.gate.js';
export type { GateAdmission } from './patient-order.gate.js';
export { listDeadLetters } from './dead-letter.browser.js';
export type { DeadLetterFilter, DeadLetterEntry } from './dead-letter.browser.js';
export { buildDeadLetter, deadLetterSubject, deadLetterMsgId } from './dead-letter.js';
export type { DeadLetterSource } from './dead-letter.js';
export { CONTENT_TYPE_HEADER, HL7V2_CONTENT_TYPE, toNatsHeaders, headersToRecord, headerSource } from './header-codec.js';
export { Semaphore } from './semaphore.util.js';
export { CircuitBreaker } from './downstream/circuit-breaker.util.js';
export type { BreakerPermit, BreakerState, CircuitBreakerOptions } from './downstream/circuit-breaker.util.js';
export { ConcurrencyLimiter, TokenBucket } from './downstream/rate-limiter.util.js';
export type { Reservation, TokenBucketOptions } from './downstream/rate-limiter.util.js';
export { DownstreamGuard, createDownstreamGuard, downstreamRefusal } from './downstream/downstream-guard.util.js';
export type {
  DownstreamCallOutcome,
  DownstreamClock,
  DownstreamErrorCode,
  DownstreamGuardOptions,
  DownstreamProtection,
} from './downstream/downstream-guard.util.js';
export { postJson } from './downstream/http-exchange.util.js';
export type { HttpExchange } from './downstream/http-exchange.util.js';
