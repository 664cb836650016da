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
import { expectEventually, installTestTracing, testNatsUrl, uniquePrefix } from '@lifeline/testing';

import { JetStreamServer } from './jetstream.server.js';
import { ConsumeEvent, JetStreamContext } from './jetstream.context.js';
import { JetStreamPublisher } from './jetstream.publisher.js';
import { PassThroughRpcExceptionFilter } from './messaging.module.js';
import { deleteTopology, provisionTopology } from './provision.js';
import type { RetryPolicy } from './retry-policy.js';

// Real nats-server with JetStream; the handler is a test double for the *application*, the transport is real.
type Mode = 'ok' | 'retry' | 'fatal' | 'slow';
interface TestPayload {
  mode: Mode;
  n: number;
}

const SPEC: ConsumerSpec = {
  durable: 'orders-test-events',
  service: 'orders',
  stream: 'CLINICAL',
  filterSubject: 'clinical.test.>',
  maxAttempts: 4,
  ackWaitMs: 30_000,
  concurrency: 4,
};

const deliveries: Array<{ n: number; at: number; delivery: number }> = [];
let slowGate: { release?: () => void; entered?: () => void } = {};

@Controller()
class TestHandler {
  @ConsumeEvent(SPEC.filterSubject)
  async handle(@Payload() env: Envelope<TestPayload>, @Ctx() ctx: JetStreamContext): Promise<void> {
    deliveries.push({ n: env.data.n, at: Date.now(), delivery: ctx.deliveryCount });
    switch (env.data.mode) {
      case 'ok':
        return;
      case 'retry':
        throw new AppError({ code: 'DOWNSTREAM_UNAVAILABLE', retryable: true, message: 'downstream down' });
      case 'fatal':
        throw new AppError({ code: 'ORDER_INVALID', retryable: false, message: 'order cannot be processed' });
      case 'slow':
        await new Promise<void>((resolve) => {
          slowGate.release = resolve;
          slowGate.entered?.();
        });
        return;
    }
  }
}

@Module({ controllers: [TestHandler] })
class TestModule {}

const logger = createLogger({ service: 'test', level: 'silent' });

describe('JetStreamServer (real nats-server)', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let naming: Naming;
  let app: INestMicroservice | undefined;
  let publisher: JetStreamPublisher;

  async function startApp(policy: RetryPolicy): Promise<void> {
    const server = new JetStreamServer({
      nc,
      naming,
      service: 'orders',
      serviceVersion: 'test',
      logger,
      consumers: [SPEC],
      retryPolicy: () => policy,
    });
    app = await NestFactory.createMicroservice<MicroserviceOptions>(TestModule, { strategy: server, logger: false });
    app.useGlobalFilters(new PassThroughRpcExceptionFilter());
    await app.listen();
  }

  async function send(payload: TestPayload): Promise<Envelope<TestPayload>> {
    const env = newEnvelope({
      type: `clinical.test.${payload.mode}.v1`,
      source: 'test',
      data: payload,
      idempotencyKey: `test|${payload.n}`,
      patientKey: 'pk-0123456789abcdef',
    });
    await publisher.publishEnvelope(env, { expectStream: 'CLINICAL' });
    return env;
  }

  async function consumerState() {
    const info = await jsm.consumers.info(naming.stream('CLINICAL'), naming.durable(SPEC.durable));
    return { pending: info.num_pending, ackPending: info.num_ack_pending };
  }

  beforeAll(async () => {
    installTestTracing();
    nc = await connect({ servers: testNatsUrl() });
    jsm = await jetstreamManager(nc);
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    await deleteTopology({ nc, naming });
    deliveries.length = 0;
    slowGate = {};
  });

  afterAll(async () => {
    await nc.drain();
  });

  async function freshTopology(): Promise<void> {
    naming = createNaming(uniquePrefix('js-server'));
    await provisionTopology({ nc, naming, consumers: [SPEC] });
    publisher = new JetStreamPublisher(nc, naming);
  }

  it('acks a handled message once', async () => {
    await freshTopology();
    await startApp({ maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000, jitter: 'equal' });
    await send({ mode: 'ok', n: 1 });
    await expectEventually(async () => {
      expect(await consumerState()).toEqual({ pending: 0, ackPending: 0 });
      expect(deliveries.filter((d) => d.n === 1)).toHaveLength(1);
    });
  });

  it('redelivers a retryable error with growing delays, then dead-letters after the last attempt', async () => {
    await freshTopology();
    // equal jitter: delay n lies in [cap_n/2, cap_n], so each gap is at least the previous cap
    await startApp({ maxAttempts: 4, baseDelayMs: 300, maxDelayMs: 10_000, jitter: 'equal' });
    await send({ mode: 'retry', n: 2 });
    await expectEventually(() => expect(deliveries.filter((d) => d.n === 2)).toHaveLength(4), { timeoutMs: 15_000 });
    const times = deliveries.filter((d) => d.n === 2).map((d) => d.at);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    const caps = [300, 600, 1_200];
    gaps.forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual((caps[i] as number) / 2 - 20);
      expect(gap).toBeLessThanOrEqual((caps[i] as number) + 500);
    });
    expect(gaps[2]).toBeGreaterThan(gaps[0] as number);
    await expectEventually(async () => expect((await jsm.streams.info(naming.stream('DLQ'))).state.messages).toBe(1));
  });

  it('negative control: without delays (plain nak) the attempts burn out within milliseconds', async () => {
    await freshTopology();
    await startApp({ maxAttempts: 4, baseDelayMs: 0, maxDelayMs: 0, jitter: 'none' });
    await send({ mode: 'retry', n: 3 });
    await expectEventually(() => expect(deliveries.filter((d) => d.n === 3)).toHaveLength(4));
    const times = deliveries.filter((d) => d.n === 3).map((d) => d.at);
    // the backoff test above would fail with this policy: the whole budget is spent in well under 300 ms
    expect((times[3] as number) - (times[0] as number)).toBeLessThan(300);
  });

  it('dead-letters a non-retryable error at once with its full context and terms the original', async () => {
    await freshTopology();
    await startApp({ maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000, jitter: 'equal' });
    const env = await send({ mode: 'fatal', n: 4 });
    await expectEventually(async () => {
      expect((await jsm.streams.info(naming.stream('DLQ'))).state.messages).toBe(1);
      expect(await consumerState()).toEqual({ pending: 0, ackPending: 0 });
    });
    expect(deliveries.filter((d) => d.n === 4)).toHaveLength(1);
    const stored = await jsm.streams.getMessage(naming.stream('DLQ'), { last_by_subj: naming.subject(`dlq.orders.${SPEC.durable}`) });
    const letter = stored?.json<Record<string, unknown>>() ?? {};
    expect(letter).toMatchObject({
      originalSubject: 'clinical.test.fatal.v1',
      originalStream: naming.stream('CLINICAL'),
      consumer: SPEC.durable,
      service: 'orders',
      serviceVersion: 'test',
      patientKey: 'pk-0123456789abcdef',
      messageId: env.id,
      idempotencyKey: 'test|4',
      error: { class: 'permanent', code: 'ORDER_INVALID', message: 'order cannot be processed' },
    });
    expect(JSON.parse(Buffer.from(letter.payloadBase64 as string, 'base64').toString())).toEqual({ mode: 'fatal', n: 4 });
    expect((letter.headers as Record<string, string>)['ce-id']).toBe(env.id);
    expect(letter.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(letter.attempts).toHaveLength(1);
  });

  it('keeps the original (nak, no term) when the dead-letter publish fails, and dead-letters it once the DLQ is back', async () => {
    await freshTopology();
    await jsm.streams.delete(naming.stream('DLQ'));
    await startApp({ maxAttempts: 2, baseDelayMs: 200, maxDelayMs: 400, jitter: 'equal' });
    await send({ mode: 'fatal', n: 5 });
    await expectEventually(() => expect(deliveries.filter((d) => d.n === 5).length).toBeGreaterThanOrEqual(2), { timeoutMs: 10_000 });
    // not termed: still owned by the consumer (pending or awaiting ack/redelivery)
    const state = await consumerState();
    expect(state.pending + state.ackPending).toBe(1);
    await provisionTopology({ nc, naming, consumers: [SPEC] });
    await expectEventually(async () => {
      expect((await jsm.streams.info(naming.stream('DLQ'))).state.messages).toBe(1);
      expect(await consumerState()).toEqual({ pending: 0, ackPending: 0 });
    }, { timeoutMs: 10_000 });
  });

  it('drains on shutdown: an in-flight handler finishes and is acked, and nothing new is pulled', async () => {
    await freshTopology();
    await startApp({ maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000, jitter: 'equal' });
    const entered = new Promise<void>((resolve) => {
      slowGate.entered = resolve;
    });
    await send({ mode: 'slow', n: 6 });
    await entered;
    const closing = app?.close();
    app = undefined;
    // the handler is still running: close() must wait for it
    let closed = false;
    void closing?.then(() => {
      closed = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false);
    slowGate.release?.();
    await closing;
    expect(await consumerState()).toEqual({ pending: 0, ackPending: 0 });
    await send({ mode: 'ok', n: 7 });
    await expectEventually(async () => expect((await consumerState()).pending).toBe(1));
    expect(deliveries.filter((d) => d.n === 7)).toHaveLength(0);
    expect(deliveries.filter((d) => d.n === 6)).toHaveLength(1);
  });
});

