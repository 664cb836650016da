import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type JetStreamManager,
} from '@nats-io/jetstream';

import { CONSUMERS, STREAMS, createNaming, withPriorityLanes, type ConsumerSpec, type Naming, type StreamSpec } from '@lifeline/contracts';

export interface ProvisionOptions {
  nc: NatsConnection;
  naming: Naming;
  streams?: readonly StreamSpec[];
  consumers?: readonly ConsumerSpec[];
  /** 1 locally; 3 in production (NACK owns the topology there and services only verify). */
  replicas?: number;
}

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

function streamConfig(spec: StreamSpec, naming: Naming, replicas: number) {
  return {
    name: naming.stream(spec.name),
    subjects: spec.subjects.map((s) => naming.subject(s)),
    retention: spec.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: replicas,
    max_age: nanos(spec.maxAgeMs),
    duplicate_window: nanos(spec.duplicateWindowMs),
    description: spec.description,
  };
}

function consumerConfig(spec: ConsumerSpec, naming: Naming) {
  return {
    durable_name: naming.durable(spec.durable),
    filter_subject: naming.subject(spec.filterSubject),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(spec.ackWaitMs),
    // Unlimited on the server: our transport counts attempts and dead-letters on the last one. A
    // server-side limit would strand a message whose dead-letter publish failed (it must be nak'ed).
    max_deliver: -1,
    max_ack_pending: Math.max(1_000, spec.concurrency * 4),
    description: `${spec.service}: ${spec.filterSubject}`,
  };
}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

async function ensureStream(jsm: JetStreamManager, config: ReturnType<typeof streamConfig>): Promise<void> {
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config);
  } catch (err) {
    if (!isApiError(err, STREAM_NOT_FOUND)) throw err;
    await jsm.streams.add(config);
  }
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, config: ReturnType<typeof consumerConfig>): Promise<void> {
  try {
    await jsm.consumers.info(stream, config.durable_name);
    await jsm.consumers.update(stream, config.durable_name, config);
  } catch (err) {
    if (!isApiError(err, CONSUMER_NOT_FOUND)) throw err;
    await jsm.consumers.add(stream, config);
  }
}

/** Creates or updates every stream and durable consumer of the topology (idempotent). */
export async function provisionTopology(options: ProvisionOptions): Promise<{ streams: string[]; consumers: string[] }> {
  const jsm = await jetstreamManager(options.nc);
  const replicas = options.replicas ?? 1;
  const streams = options.streams ?? STREAMS;
  // by default every consumer with its stat lane (a separate durable: reserved capacity on 2.9)
  const consumers = options.consumers ?? withPriorityLanes(CONSUMERS);
  for (const spec of streams) await ensureStream(jsm, streamConfig(spec, options.naming, replicas));
  for (const spec of consumers) {
    await ensureConsumer(jsm, options.naming.stream(spec.stream), consumerConfig(spec, options.naming));
  }
  return {
    streams: streams.map((s) => options.naming.stream(s.name)),
    consumers: consumers.map((c) => options.naming.durable(c.durable)),
  };
}

/** Connects, provisions and disconnects: for `./mesh up` and test set-up. */
export async function provisionTopologyAt(params: { natsUrl: string; prefix?: string; replicas?: number }): Promise<{ streams: string[]; consumers: string[] }> {
  const nc = await connect({ servers: params.natsUrl, name: 'lifeline-provisioner' });
  try {
    return await provisionTopology({ nc, naming: createNaming(params.prefix ?? ''), replicas: params.replicas });
  } finally {
    await nc.drain();
  }
}

/** Deletes a prefix's streams (test clean-up). Never call with the empty prefix. */
export async function deleteTopology(params: { nc: NatsConnection; naming: Naming }): Promise<void> {
  if (params.naming.prefix === '') throw new Error('refusing to delete the production topology');
  const jsm = await jetstreamManager(params.nc);
  for (const spec of STREAMS) {
    try {
      await jsm.streams.delete(params.naming.stream(spec.name));
    } catch (err) {
      if (!isApiError(err, STREAM_NOT_FOUND)) throw err;
    }
  }
  // KV buckets of the transport (attempt history, parked patients, retrying heads, consumer leases) are streams named KV_<bucket>
  for (const bucket of ['ATTEMPTS', 'PARKED', 'RETRY_HEADS', 'CONSUMER_LEASES']) {
    try {
      await jsm.streams.delete(`KV_${params.naming.kvBucket(bucket)}`);
    } catch (err) {
      if (!isApiError(err, STREAM_NOT_FOUND)) throw err;
    }
  }
}
