import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, Payload, type MicroserviceOptions } from '@nestjs/microservices';
import type { INestMicroservice } from '@nestjs/common';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';

import { createNaming, newEnvelope, type ConsumerSpec, type Envelope, type Naming } from '@lifeline/contracts';
import { AppError } from '@lifeline/errors';
import { createLogger } from '@lifeline/observability';
import { expectEventually, testNatsUrl, uniquePrefix } from '@lifeline/testing';

import { JetStreamServer } from './jetstream.server.js';
import { ConsumeEvent, JetStreamContext } from './jetstream.context.js';
import { JetStreamPublisher } from './jetstream.publisher.js';
import { PassThroughRpcExceptionFilter } from './messaging.module.js';
import { PARKING_METRICS } from './parking.store.js';
import { deleteTopology, provisionTopology } from './provision.js';
import { listDeadLetters } from './dead-letter.browser.js';

// Real nats-server: per-patient order at the effect (the handler's applied log), parking and release.
const SPEC: ConsumerSpec = {
  durable: 'orders-order-test',
  service: 'orders',
  stream: 'CLINICAL',
  filterSubject: 'clinical.ordertest.>',
  maxAttempts: 10,
  ackWaitMs: 30_000,
  concurrency: 8,
};
const TYPE = 'clinical.ordertest.event.v1';
// CI size (2 cores); the full size: ORDERING_PATIENTS=200 ORDERING_EVENTS=20
const PATIENTS = Number(process.env.ORDERING_PATIENTS ?? 50);
const EVENTS = Number(process.env.ORDERING_EVENTS ?? 10);
// poisoned event index (its patient's later events are the parked ones); wait budgets scale with size
const HEAD = Math.floor(EVENTS / 2) - 1;
const SCALE = Math.max(1, (PATIENTS * EVENTS) / 500);
const ms = (base: number) => Math.round(base * SCALE);

interface OrderedPayload {
  patient: string;
  i: number;
}

const applied = new Map<string, number[]>();
const poisoned = new Set<string>();
let transientFailures = 0;
let failureRate = 0;

/** Deterministic pseudo-random in [0, 1) per (patient, event, delivery): reproducible failures. */
function chance(key: string): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i += 1) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return ((h >>> 0) % 10_000) / 10_000;
}

@Controller()
class OrderedHandler {
  @ConsumeEvent(SPEC.filterSubject)
  async handle(@Payload() env: Envelope<OrderedPayload>, @Ctx() ctx: JetStreamContext): Promise<void> {
    const { patient, i } = env.data;
    if (poisoned.has(`${patient}|${i}`)) {
      throw new AppError({ code: 'ORDER_UNPROCESSABLE', retryable: false, kind: 'poison', message: 'cannot be applied' });
    }
    if (ctx.deliveryCount <= 3 && chance(`${patient}|${i}|${ctx.deliveryCount}`) < failureRate) {
      transientFailures += 1;
      throw new AppError({ code: 'LIS_TIMEOUT', retryable: true, message: 'timed out' });
    }
    // the effect: a per-patient log whose order is what ordering must preserve
    const log = applied.get(patient) ?? [];
    log.push(i);
    applied.set(patient, log);
  }
}

@Module({ controllers: [OrderedHandler] })
class OrderedModule {}

const logger = createLogger({ service: 'test', level: 'silent' });
const patientKey = (p: number) => `pk-${p.toString(16).padStart(16, '0')}`;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

describe('per-patient ordering with parking (real nats-server)', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let naming: Naming;
  let app: INestMicroservice | undefined;
  let server: JetStreamServer;
  let publisher: JetStreamPublisher;

  beforeAll(async () => {
    nc = await connect({ servers: testNatsUrl() });
    jsm = await jetstreamManager(nc);
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    await deleteTopology({ nc, naming });
    applied.clear();
    poisoned.clear();
    transientFailures = 0;
    failureRate = 0;
  });

  afterAll(async () => {
    await nc.drain();
  });

  async function start(park: boolean, ordering = true): Promise<void> {
    naming = createNaming(uniquePrefix('order'));
    await provisionTopology({ nc, naming, consumers: [SPEC] });
    publisher = new JetStreamPublisher(nc, naming);
    server = new JetStreamServer({
      nc,
      naming,
      service: 'orders',
      serviceVersion: 'test',
      logger,
      consumers: [SPEC],
      drainTimeoutMs: 2_000,
      ordering: { enabled: ordering, holdMs: 50, parkHoldMs: 200 },
      retryPolicies: {
        consumers: { [SPEC.durable]: { classes: { transient: { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 100, jitter: 'full' } } } },
        messageTypes: { [TYPE]: { park } },
      },
    });
    app = await NestFactory.createMicroservice<MicroserviceOptions>(OrderedModule, { strategy: server, logger: false });
    app.useGlobalFilters(new PassThroughRpcExceptionFilter());
    await app.listen();
  }

  /** Event i of every patient, then event i+1: one patient's events are in stream order. */
  async function publishAll(): Promise<void> {
    for (let i = 0; i < EVENTS; i += 1) {
      await Promise.all(
        range(0, PATIENTS).map((p) =>
          publisher.publishEnvelope(
            newEnvelope<OrderedPayload>({ type: TYPE, source: 'test', data: { patient: patientKey(p), i }, idempotencyKey: `ord|${p}|${i}`, patientKey: patientKey(p) }),
            { expectStream: 'CLINICAL' },
          ),
        ),
      );
    }
  }

  const othersComplete = (except: string) => {
    for (const p of range(0, PATIENTS).map(patientKey)) {
      if (p !== except) expect(applied.get(p)).toEqual(range(0, EVENTS));
    }
  };

  async function parkedGauges(): Promise<{ patients: number; messages: number }> {
    const sum = async (g: typeof PARKING_METRICS.parkedPatients) => (await g.get()).values.reduce((a, v) => a + v.value, 0);
    return { patients: await sum(PARKING_METRICS.parkedPatients), messages: await sum(PARKING_METRICS.parkedMessages) };
  }

  it(`keeps each patient's ${EVENTS} events in order at the effect through random transient failures, ${PATIENTS} patients in parallel`, async () => {
    await start(true);
    failureRate = 0.2;
    await publishAll();
    await expectEventually(() => othersComplete(''), { timeoutMs: ms(45_000), intervalMs: 200 });
    const outOfOrder = range(0, PATIENTS).filter((p) => JSON.stringify(applied.get(patientKey(p))) !== JSON.stringify(range(0, EVENTS)));
    process.stdout.write(`ordering ${PATIENTS}×${EVENTS}: transient failures ${transientFailures}, patients out of order ${outOfOrder.length}\n`);
    expect(transientFailures).toBeGreaterThan(20);
  }, ms(60_000));

  it('negative control: without the ordering gate the same failures reorder some patient\'s events', async () => {
    await start(true, false);
    failureRate = 0.2;
    await publishAll();
    await expectEventually(() => {
      for (const p of range(0, PATIENTS).map(patientKey)) expect(applied.get(p)).toHaveLength(EVENTS);
    }, { timeoutMs: ms(45_000), intervalMs: 200 });
    const inOrder = range(0, PATIENTS).filter((p) => JSON.stringify(applied.get(patientKey(p))) === JSON.stringify(range(0, EVENTS)));
    expect(inOrder.length).toBeLessThan(PATIENTS);
  }, ms(60_000));

  it('parks exactly the poisoned patient; release applies the head then the held events in order', async () => {
    await start(true);
    const victim = patientKey(7);
    poisoned.add(`${victim}|${HEAD}`);
    await publishAll();
    await expectEventually(() => othersComplete(victim), { timeoutMs: ms(30_000), intervalMs: 200 });
    // held, not lost: the later events were seen and parked, nothing past the head applied
    await expectEventually(async () => expect(await parkedGauges()).toEqual({ patients: 1, messages: EVENTS - HEAD - 1 }), { timeoutMs: ms(10_000) });
    expect(applied.get(victim)).toEqual(range(0, HEAD));
    process.stdout.write(`ordering ${PATIENTS}×${EVENTS}: parked ${JSON.stringify(await parkedGauges())}, others complete ${PATIENTS - 1}\n`);
    const durable = naming.durable(SPEC.durable);
    expect(server.parking.list().map((e) => [e.consumer, e.patientKey, e.status])).toEqual([[durable, victim, 'parked']]);
    const letters = await listDeadLetters({ nc, naming, filter: { patientKey: victim } });
    expect(letters.map((l) => l.record.error.code)).toEqual(['ORDER_UNPROCESSABLE']);

    poisoned.clear(); // the operator fixed the cause
    await server.parking.release(durable, victim);
    await expectEventually(() => expect(applied.get(victim)).toEqual(range(0, EVENTS)), { timeoutMs: ms(15_000) });
    await expectEventually(async () => expect((await parkedGauges()).patients).toBe(0));
    expect(server.parking.list()).toEqual([]);
  }, ms(60_000));

  it('discard leaves the head in the DLQ and applies the held events in order', async () => {
    await start(true);
    const victim = patientKey(11);
    poisoned.add(`${victim}|${HEAD}`);
    await publishAll();
    await expectEventually(() => othersComplete(victim), { timeoutMs: ms(30_000), intervalMs: 200 });
    await expectEventually(async () => expect(await parkedGauges()).toEqual({ patients: 1, messages: EVENTS - HEAD - 1 }), { timeoutMs: ms(10_000) });
    await server.parking.discard(naming.durable(SPEC.durable), victim);
    await expectEventually(() => expect(applied.get(victim)).toEqual(range(0, EVENTS).filter((i) => i !== HEAD)), { timeoutMs: ms(15_000) });
    expect((await jsm.streams.info(naming.stream('DLQ'))).state.messages).toBe(1);
    const [letter] = await listDeadLetters({ nc, naming, filter: { patientKey: victim } });
    expect(JSON.parse(Buffer.from(letter?.record.payloadBase64 ?? '', 'base64').toString())).toEqual({ patient: victim, i: HEAD });
  }, ms(60_000));

  it('negative control: with parking off the poisoned patient\'s later events are applied past the dead-lettered one', async () => {
    await start(false);
    const victim = patientKey(3);
    poisoned.add(`${victim}|${HEAD}`);
    await publishAll();
    await expectEventually(() => othersComplete(victim), { timeoutMs: ms(30_000), intervalMs: 200 });
    await expectEventually(() => expect(applied.get(victim)).toEqual(range(0, EVENTS).filter((i) => i !== HEAD)), { timeoutMs: ms(10_000) });
    expect(server.parking.list()).toEqual([]);
  }, ms(60_000));
});
