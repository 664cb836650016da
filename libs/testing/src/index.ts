// @lifeline/testing: the process harness, async assertions and builders (STYLE.md §4). Specs and
// test/** only. Process management lives in .mjs modules so tools/mesh can run them unbuilt.
export { expectEventually } from './expect-eventually.js';
export type { ExpectEventuallyOptions } from './expect-eventually.js';
export { uniquePrefix } from './unique-prefix.js';
export { testAdminDatabaseUrl, testNatsUrl } from './test-env.js';
export { createTestDatabase } from './test-database.js';
export type { TestDatabase } from './test-database.js';
export { collectOtlpSpans } from './otlp-collector.js';
export type { CollectedSpan, OtlpSpanCollector, SpanAttributeValue } from './otlp-collector.js';
export { hl7Orm, hl7Oru, hl7Timestamp } from './hl7-builders.js';
export type { Hl7Observation, Hl7OrmInput, Hl7OruInput } from './hl7-builders.js';
export { freePort, pidAlive, waitFor } from './processes.mjs';
export { natsReachable, probeNats, startNatsServer } from './nats-server.mjs';
export type { NatsInfo, NatsServerHandle, StartNatsServerOptions } from './nats-server.mjs';
export { maskPassword, postgresReachable, probePostgres, startPostgres, withDatabase } from './postgres-server.mjs';
export type { PgStopMode, PostgresHandle, StartPostgresOptions } from './postgres-server.mjs';
export { ackCode, sendMllp } from './mllp-client.mjs';
export { installTestTracing } from './test-tracing.js';
export { startExternalSim } from './external-sim.js';
export type { ExternalSim, SimEffects, SimFault, SimRequest, SimTarget, SimTargetStats } from './external-sim.js';
