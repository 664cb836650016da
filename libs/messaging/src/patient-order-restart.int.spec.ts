import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Module } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import type { INestMicroservice } from '@nestjs/common';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';

import { createNaming, newEnvelope, type ConsumerSpec, type Envelope, type Naming } from '@lifeline/contracts';
import { AppError } from '@lifeline/errors';
import { createLogger } from '@lifeline/observability';
import { expectEventually, testNatsUrl, uniquePrefix } from '@lifeline/testing';

import { startConsumerProcess } from './consumer-process.fixture.spec.js';
import { ConsumeEvent, JetStreamContext } from './jetstream.context.js';
import { JetStreamPublisher } from './jetstream.publisher.js';
import { deleteTopology, provisionTopology } from './provision.js';
import { RetryHeadStore } from './retry-head.store.js';

// Real nats-server: a patient's event waiting for a delayed retry when its process restarts must still
// be applied before that patient's later events (the restarted process has an empty in-memory gate).
const SPEC: ConsumerSpec = {
  durable: 'orders-restart-test',
  service: 'orders',
  stream: 'CLINICAL',
  filterSubject: 'clinical.restarttest.>',
  maxAttempts: 5,
  ackWaitMs: 30_000,
  concurrency: 4,
};
const TYPE = 'clinical.restarttest.event.v1';
const EVENTS = 5;
// the head's backoff: long enough that the restarted process sees the later events come back first
const RETRY_DELAY_MS = 3_000;
// held messages cycle fast, so some are always on their way to the stopping process
const HOLD_MS = 50;
const PULL_EXPIRES_MS = 1_000;

interface Payload_ {
  patient: string;
  i: number;
}

const applied = new Map<string, number[]>();
let headFailures = 0;

@Controller()
class RestartHandler {
  @ConsumeEvent(SPEC.filterSubject)
  async handle(@Payload() env: Envelope<Payload_>, @Ctx() ctx: JetStreamContext): Promise<void> {
    const { patient, i } = env.data;
    // patient A's first event fails once (a downstream timeout), then succeeds on its retry
    if (patient === 'pk-a' && i === 0 && ctx.deliveryCount === 1) {
      headFailures += 1;
      throw new AppError({ code: 'LIS_TIMEOUT', retryable: true, message: 'timed out' });
    }
    const log = applied.get(patient) ?? [];
    log.push(i);
    applied.set(patient, log);
  }
}

@Module({ controllers: [RestartHandler] })
class RestartModule {}

const logger = createLogger({ service: 'test', level: 'silent' });

describe('per-patient ordering across a restart (real nats-server)', () => {
  let nc: NatsConnection;
  let naming: Naming;
  let app: INestMicroservice | undefined;
  let conns: NatsConnection[] = [];

  beforeAll(async () => {
    nc = await connect({ servers: testNatsUrl() });
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    conns = [];
    await deleteTopology({ nc, naming });
    applied.clear();
    headFailures = 0;
  });

  afterAll(async () => {
    await nc.drain();
  });

  /** One "process": its own connection, server and Nest app, as a restarted pod would have. */
  async function startProcess(persistRetryHeads: boolean): Promise<{ app: INestMicroservice; conn: NatsConnection }> {
    const started = await startConsumerProcess(RestartModule, {
      naming,
      service: 'orders',
      serviceVersion: 'test',
      logger,
      consumers: [SPEC],
      drainTimeoutMs: 10_000,
      pullExpiresMs: PULL_EXPIRES_MS,
      ordering: { enabled: true, holdMs: HOLD_MS, parkHoldMs: 200, persistRetryHeads },
      retryPolicies: {
        consumers: { [SPEC.durable]: { classes: { transient: { maxAttempts: 5, baseDelayMs: RETRY_DELAY_MS, maxDelayMs: RETRY_DELAY_MS, jitter: 'none' } } } },
      },
    });
    conns.push(started.conn);
    return started;
  }

  async function publish(patient: string, i: number): Promise<void> {
    const env = newEnvelope<Payload_>({ type: TYPE, source: 'test', data: { patient, i }, idempotencyKey: `rst|${patient}|${i}`, patientKey: patient });
    await new JetStreamPublisher(nc, naming).publishEnvelope(env, { expectStream: 'CLINICAL' });
  }

  /** Runs the scenario: A's head fails, the process restarts while it waits, everything completes. */
  async function restartWhileHeadRetries(persistRetryHeads: boolean): Promise<{ a: number[]; b: number[] }> {
    naming = createNaming(uniquePrefix('restart'));
    await provisionTopology({ nc, naming, consumers: [SPEC] });
    const first = await startProcess(persistRetryHeads);
    for (let i = 0; i < EVENTS; i += 1) {
      await publish('pk-a', i);
      await publish('pk-b', i);
    }
    // A's head failed and is away for RETRY_DELAY_MS; B, another patient, completed meanwhile
    await expectEventually(
      () => {
        expect(headFailures).toBe(1);
        expect(applied.get('pk-b')).toEqual([0, 1, 2, 3, 4]);
        expect(applied.get('pk-a')).toBeUndefined();
      },
      { timeoutMs: 10_000, message: 'head failed once, the other patient done' },
    );
    // the restart: the old process goes away (its connection too), a new one takes the consumer
    await first.app.close();
    await first.conn.close();
    const second = await startProcess(persistRetryHeads);
    app = second.app;
    await expectEventually(() => expect(applied.get('pk-a')).toHaveLength(EVENTS), { timeoutMs: RETRY_DELAY_MS + 15_000, message: "all of A's events applied" });
    return { a: applied.get('pk-a') ?? [], b: applied.get('pk-b') ?? [] };
  }

  it("applies a patient's events in order when the process restarts while the patient's head waits for its retry", async () => {
    const { a, b } = await restartWhileHeadRetries(true);

    expect(a).toEqual([0, 1, 2, 3, 4]);
    expect(b).toEqual([0, 1, 2, 3, 4]);
    // the head was written to the KV bucket while it waited, and cleared once applied
    const kv = await new Kvm(nc).open(RetryHeadStore.bucket(naming));
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    expect(keys).toEqual([]);
  }, 40_000);

  it('negative control: without retry heads in KV the restarted process applies the later events before the head', async () => {
    const { a } = await restartWhileHeadRetries(false);

    expect([...a].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(a).not.toEqual([0, 1, 2, 3, 4]);
    expect(a[a.length - 1]).toBe(0);
  }, 40_000);
});
