import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Inject, Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Payload, type MicroserviceOptions } from '@nestjs/microservices';
import type { INestMicroservice } from '@nestjs/common';
import { connect, type NatsConnection } from '@nats-io/transport-node';

import { createNaming, newEnvelope, type ConsumerSpec, type Envelope, type Naming } from '@lifeline/contracts';
import { createLogger } from '@lifeline/observability';
import { expectEventually, testNatsUrl, uniquePrefix } from '@lifeline/testing';

import { JetStreamServer } from './jetstream.server.js';
import { startConsumerProcess } from './consumer-process.fixture.spec.js';
import { ConsumeEvent } from './jetstream.context.js';
import { JetStreamPublisher } from './jetstream.publisher.js';
import { deleteTopology, provisionTopology } from './provision.js';

// Real nats-server: two replicas of one consumer, each a "process" (own connection, server, Nest app).
// Per-patient order at the effect across replicas needs one active replica per consumer (a KV lease);
// across a crash the lease must outlive the ack wait.
const SPEC: ConsumerSpec = {
  durable: 'orders-lease-test',
  service: 'orders',
  stream: 'CLINICAL',
  filterSubject: 'clinical.leasetest.>',
  maxAttempts: 5,
  ackWaitMs: 2_000,
  concurrency: 4,
};
const TYPE = 'clinical.leasetest.event.v1';
const PATIENTS = 20;
const EVENTS = 8;
const LEASE_TTL_MS = 3_000; // > ack wait
const REPLICA = 'LEASE_TEST_REPLICA';

interface LeasePayload {
  patient: string;
  i: number;
}

/** The effect: per patient, the events in the order first applied (an inbox would drop repeats). */
const applied = new Map<string, number[]>();
const handledBy = new Map<string, number>();
const crashed = new Set<string>();

@Controller()
class LeaseHandler {
  constructor(@Inject(REPLICA) private readonly replica: string) {}

  @ConsumeEvent(SPEC.filterSubject)
  async handle(@Payload() env: Envelope<LeasePayload>): Promise<void> {
    // downstream work of a few ms: long enough for two replicas to overlap on one patient
    await new Promise((r) => setTimeout(r, 2 + ((env.data.i * 7 + Number(env.data.patient.slice(-2))) % 9)));
    if (crashed.has(this.replica)) throw new Error('this process is dead'); // applies nothing more
    handledBy.set(this.replica, (handledBy.get(this.replica) ?? 0) + 1);
    const log = applied.get(env.data.patient) ?? [];
    if (!log.includes(env.data.i)) log.push(env.data.i);
    applied.set(env.data.patient, log);
  }
}

@Module({})
class LeaseModule {
  static forReplica(name: string): DynamicModule {
    return { module: LeaseModule, controllers: [LeaseHandler], providers: [{ provide: REPLICA, useValue: name }] };
  }
}

const logger = createLogger({ service: 'test', level: 'silent' });
const patientKey = (p: number) => `pk-lease-${String(p).padStart(2, '0')}`;
const range = (n: number) => Array.from({ length: n }, (_, k) => k);

describe('one active replica per consumer (consumer leases, real nats-server)', () => {
  let nc: NatsConnection;
  let naming: Naming;
  let processes: Array<{ name: string; app: INestMicroservice; conn: NatsConnection }> = [];

  beforeAll(async () => {
    nc = await connect({ servers: testNatsUrl() });
  });

  afterEach(async () => {
    for (const p of processes) {
      await p.app.close().catch(() => undefined);
      await p.conn.close().catch(() => undefined);
    }
    processes = [];
    await deleteTopology({ nc, naming });
    applied.clear();
    handledBy.clear();
    crashed.clear();
  });

  afterAll(async () => {
    await nc.drain();
  });

  async function startReplica(name: string, exclusive: boolean, ttlMs = LEASE_TTL_MS): Promise<void> {
    const started = await startConsumerProcess(LeaseModule.forReplica(name), {
      naming,
      service: 'orders',
      serviceVersion: 'test',
      logger,
      consumers: [SPEC],
      drainTimeoutMs: 5_000,
      pullExpiresMs: 1_000,
      ordering: { enabled: true, holdMs: 50 },
      ...(exclusive ? { exclusive: { ttlMs, holder: name, unsafeShortTtl: ttlMs <= SPEC.ackWaitMs } } : {}),
    });
    processes.push({ name, ...started });
  }

  /** Event i of every patient, then event i+1: one patient's events are in stream order. */
  async function publishAll(): Promise<void> {
    const publisher = new JetStreamPublisher(nc, naming);
    for (let i = 0; i < EVENTS; i += 1) {
      await Promise.all(
        range(PATIENTS).map((p) =>
          publisher.publishEnvelope(
            newEnvelope<LeasePayload>({ type: TYPE, source: 'test', data: { patient: patientKey(p), i }, idempotencyKey: `lease|${p}|${i}`, patientKey: patientKey(p) }),
            { expectStream: 'CLINICAL' },
          ),
        ),
      );
    }
  }

  const allApplied = (timeoutMs: number) =>
    expectEventually(
      () => {
        for (const p of range(PATIENTS)) expect(applied.get(patientKey(p))).toHaveLength(EVENTS);
      },
      { timeoutMs, intervalMs: 100, message: 'every event applied' },
    );
  const outOfOrder = () => range(PATIENTS).filter((p) => JSON.stringify(applied.get(patientKey(p))) !== JSON.stringify(range(EVENTS)));

  async function fresh(): Promise<void> {
    naming = createNaming(uniquePrefix('lease'));
    await provisionTopology({ nc, naming, consumers: [SPEC] });
  }

  it('keeps every patient in order with two live replicas: one consumes, the other stands by', async () => {
    await fresh();
    await startReplica('a', true);
    await startReplica('b', true);
    await publishAll();
    await allApplied(30_000);

    expect(outOfOrder()).toEqual([]);
    // exactly one replica did the work
    expect([...handledBy.values()].sort((x, y) => x - y)).toEqual([PATIENTS * EVENTS]);
  }, 60_000);

  /** Two replicas, the active one crashes mid-way; resolves with the survivor's name once all is applied. */
  async function crashActive(ttlMs: number): Promise<string> {
    await fresh();
    await startReplica('a', true, ttlMs);
    await startReplica('b', true, ttlMs);
    await publishAll();
    await expectEventually(() => expect([...handledBy.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(PATIENTS), {
      timeoutMs: 10_000,
      message: 'work under way',
    });
    // the active process dies: no more effects, no acks, no lease renewals, no release
    const active = [...handledBy.keys()][0] ?? 'a';
    crashed.add(active);
    await processes.find((p) => p.name === active)?.conn.close();
    await allApplied(30_000);
    return active === 'a' ? 'b' : 'a';
  }

  it('fails over after a crash (lease TTL > ack wait) and still applies every patient in order', async () => {
    const survivor = await crashActive(LEASE_TTL_MS);

    expect(outOfOrder()).toEqual([]);
    expect(handledBy.get(survivor)).toBeGreaterThan(0);
  }, 60_000);

  it('hands over on a graceful stop (lease released, buffered work handed back) and keeps every patient in order', async () => {
    await fresh();
    await startReplica('a', true);
    await startReplica('b', true);
    await publishAll();
    await expectEventually(() => expect([...handledBy.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(PATIENTS), {
      timeoutMs: 10_000,
      message: 'work under way',
    });
    const active = [...handledBy.keys()][0] ?? 'a';
    await processes.find((p) => p.name === active)?.app.close();
    await allApplied(30_000);

    expect(outOfOrder()).toEqual([]);
    expect(handledBy.get(active === 'a' ? 'b' : 'a')).toBeGreaterThan(0);
  }, 60_000);

  it("negative control: a lease shorter than the ack wait lets the survivor overtake the crashed replica's in-flight events", async () => {
    const survivor = await crashActive(600);

    expect(handledBy.get(survivor)).toBeGreaterThan(0);
    expect(outOfOrder().length).toBeGreaterThan(0);
  }, 60_000);

  it('refuses to start with a lease TTL not above the ack wait', async () => {
    await fresh();
    const conn = await connect({ servers: testNatsUrl() });
    try {
      const server = new JetStreamServer({ nc: conn, naming, service: 'orders', serviceVersion: 'test', logger, consumers: [SPEC], exclusive: { ttlMs: SPEC.ackWaitMs, holder: 'x' } });
      const app = await NestFactory.createMicroservice<MicroserviceOptions>(LeaseModule.forReplica('x'), { strategy: server, logger: false });
      await expect(app.listen()).rejects.toThrow(/lease TTL 2000 ms must exceed the longest ack wait \(2000 ms\)/);
      await app.close().catch(() => undefined);
    } finally {
      await conn.close();
    }
  });

  it('negative control: without leases the two replicas reorder some patient', async () => {
    await fresh();
    await startReplica('a', false);
    await startReplica('b', false);
    await publishAll();
    await allApplied(30_000);

    // both worked, and per-process ordering alone did not keep every patient in order
    expect(handledBy.size).toBe(2);
    expect(outOfOrder().length).toBeGreaterThan(0);
  }, 60_000);
});
