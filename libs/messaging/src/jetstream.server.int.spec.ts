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
import type { AttemptRecord, RetryPolicy } from './retry-policy.js';
import type { RetryPoliciesConfig } from './retry-policy.config.js';
import { listDeadLetters } from './dead-letter.browser.js';

// Real nats-server with JetStream; the handler is a test double for the *application*, the transport is real.
type Mode = 'ok' | 'retry' | 'fatal' | 'slow' | 'throttled' | 'unknown' | 'hang';
interface TestPayload {
  mode: Mode;
  n: number;
  /** Deliveries that first fail as downstream-unavailable (an open breaker) before `mode` applies. */
  pauses?: number;
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
const hung: Array<() => void> = [];

@Controller()
class TestHandler {
  @ConsumeEvent(SPEC.filterSubject)
  async handle(@Payload() env: Envelope<TestPayload>, @Ctx() ctx: JetStreamContext): Promise<void> {
    deliveries.push({ n: env.data.n, at: Date.now(), delivery: ctx.deliveryCount });
    if (env.data.pauses !== undefined && ctx.deliveryCount <= env.data.pauses) {
      throw new AppError({ code: 'LIS_BREAKER_OPEN', retryable: true, kind: 'downstream-unavailable', message: 'breaker open' });
    }
    switch (env.data.mode) {
      case 'ok':
        return;
      case 'retry':
        throw new AppError({ code: 'DOWNSTREAM_UNAVAILABLE', retryable: true, message: 'downstream down' });
      case 'fatal':
        throw new AppError({ code: 'ORDER_INVALID', retryable: false, message: 'order cannot be processed' });
      case 'throttled':
        throw new AppError({ code: 'LIS_RATE_LIMITED', retryable: true, kind: 'throttled', message: 'rate limited' });
      case 'unknown':
        throw new TypeError('a bug');
      case 'hang':
        await new Promise<void>((resolve) => hung.push(resolve));
        return;
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

  async function startApp(policy: RetryPolicy, extra: { retryPolicies?: RetryPoliciesConfig; spec?: ConsumerSpec } = {}): Promise<void> {
    const server = new JetStreamServer({
      nc,
      naming,
      service: 'orders',
      serviceVersion: 'test',
      logger,
      consumers: [extra.spec ?? SPEC],
      retryPolicy: () => policy,
      retryPolicies: extra.retryPolicies,
      drainTimeoutMs: 2_000,
      // close() listens this long for deliveries to its expiring pulls
      pullExpiresMs: 1_000,
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

  async function deadLetterOf(n: number) {
    const letters = await listDeadLetters({ nc, naming, filter: { service: 'orders', consumer: SPEC.durable } });
    const entry = letters.find((l) => l.record.idempotencyKey === `test|${n}`);
    if (!entry) throw new Error(`no dead letter for ${n}`);
    return entry.record;
  }

  const deliveriesOf = (n: number) => deliveries.filter((d) => d.n === n);

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
    for (const release of hung.splice(0)) release();
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

  it('spends exactly each error kind\'s budget, and the dead letter\'s attempt times follow the backoff curve within jitter bounds', async () => {
    await freshTopology();
    const throttled = { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 5_000, jitter: 'full' } as const;
    await startApp(
      { maxAttempts: 4, baseDelayMs: 150, maxDelayMs: 5_000, jitter: 'full' },
      { retryPolicies: { consumers: { [SPEC.durable]: { classes: { throttled } } } } },
    );
    await send({ mode: 'throttled', n: 20 });
    await send({ mode: 'retry', n: 21 });
    await expectEventually(async () => {
      expect((await jsm.streams.info(naming.stream('DLQ'))).state.messages).toBe(2);
      expect(await consumerState()).toEqual({ pending: 0, ackPending: 0 });
    }, { timeoutMs: 15_000 });
    expect(deliveriesOf(20)).toHaveLength(3);
    expect(deliveriesOf(21)).toHaveLength(4);
    const cases: Array<[number, number, number]> = [
      [20, 3, throttled.baseDelayMs],
      [21, 4, 150],
    ];
    for (const [n, budget, base] of cases) {
      const letter = await deadLetterOf(n);
      expect(letter.error).toMatchObject({ reason: 'attempts-exhausted' });
      const attempts = letter.attempts as AttemptRecord[];
      // one record per handler failure; delivery counts may skip deliveries held for patient order
      expect(attempts).toHaveLength(budget);
      attempts.slice(1).forEach((a, i) => expect(a.deliveryCount).toBeGreaterThan((attempts[i] as AttemptRecord).deliveryCount));
      const times = attempts.map((a) => Date.parse(a.at));
      attempts.slice(0, -1).forEach((a, i) => {
        const cap = Math.min(5_000, base * 2 ** i);
        // full jitter: the chosen delay lies in [0, cap]; the redelivery honours it (+ processing slack)
        expect(a.delayMs).toBeGreaterThanOrEqual(0);
        expect(a.delayMs).toBeLessThanOrEqual(cap);
        const gap = (times[i + 1] as number) - (times[i] as number);
        expect(gap).toBeGreaterThanOrEqual((a.delayMs as number) - 20);
        expect(gap).toBeLessThanOrEqual((a.delayMs as number) + 500);
      });
      expect(attempts.at(-1)?.delayMs).toBeUndefined();
    }
    const throttledOnly = await listDeadLetters({ nc, naming, filter: { consumer: SPEC.durable, errorCode: 'LIS_RATE_LIMITED' } });
    expect(throttledOnly.map((l) => l.record.idempotencyKey)).toEqual(['test|20']);
  });

  it('pauses (open breaker) without consuming the retry budget', async () => {
    await freshTopology();
    await startApp(
      { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 200, jitter: 'full' },
      { retryPolicies: { defaults: { classes: { 'downstream-unavailable': { baseDelayMs: 50, maxDelayMs: 100, jitter: 'none' } } } } },
    );
    await send({ mode: 'retry', n: 22, pauses: 4 });
    await expectEventually(async () => expect((await jsm.streams.info(naming.stream('DLQ'))).state.messages).toBe(1), { timeoutMs: 15_000 });
    // 4 pauses + the full transient budget of 3
    expect(deliveriesOf(22)).toHaveLength(7);
    const letter = await deadLetterOf(22);
    expect(letter.attempts.map((a) => a.kind)).toEqual([
      'downstream-unavailable',
      'downstream-unavailable',
      'downstream-unavailable',
      'downstream-unavailable',
      'transient',
      'transient',
      'transient',
    ]);
  });

  it('keeps every attempt across a process restart', async () => {
    await freshTopology();
    const policy: RetryPolicy = { maxAttempts: 4, baseDelayMs: 400, maxDelayMs: 400, jitter: 'none' };
    await startApp(policy);
    await send({ mode: 'retry', n: 23 });
    await expectEventually(() => expect(deliveriesOf(23)).toHaveLength(2), { timeoutMs: 5_000 });
    await app?.close();
    app = undefined;
    await startApp(policy);
    await expectEventually(async () => expect((await jsm.streams.info(naming.stream('DLQ'))).state.messages).toBe(1), { timeoutMs: 10_000 });
    expect(deliveriesOf(23)).toHaveLength(4);
    const letter = await deadLetterOf(23);
    const counts = letter.attempts.map((a) => a.deliveryCount);
    expect(counts).toHaveLength(4);
    expect(counts.slice(0, 2)).toEqual([1, 2]);
    // a delivery that reached the stopping process was handed back (delayed nak): not an attempt
    expect(counts.every((c, i) => i === 0 || c > (counts[i - 1] as number))).toBe(true);
  });

  it.each([
    ['throws UNKNOWN', 'unknown' as const],
    ['never settles', 'hang' as const],
  ])('dead-letters what the server gives up on by itself (consumer max_deliver 2, handler %s)', async (_label, mode) => {
    await freshTopology();
    const spec: ConsumerSpec = { ...SPEC, ackWaitMs: 500 };
    await provisionTopology({ nc, naming, consumers: [spec] });
    // a misconfigured consumer: the server stops after 2 deliveries, before our budget of 5
    const stream = naming.stream('CLINICAL');
    const durable = naming.durable(SPEC.durable);
    const info = await jsm.consumers.info(stream, durable);
    await jsm.consumers.update(stream, durable, { ...info.config, max_deliver: 2 });
    await startApp({ maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 100, jitter: 'none' }, { spec });
    await send({ mode, n: 24 });
    await expectEventually(async () => expect((await jsm.streams.info(naming.stream('DLQ'))).state.messages).toBe(1), { timeoutMs: 15_000 });
    const letter = await deadLetterOf(24);
    expect(letter.error).toMatchObject({ reason: 'max-deliveries' });
    expect(letter.attempts.at(-1)).toMatchObject({ deliveryCount: 2, code: 'MAX_DELIVERIES' });
    if (mode === 'unknown') expect(letter.attempts.map((a) => a.code)).toEqual(['UNKNOWN', 'UNKNOWN', 'MAX_DELIVERIES']);
    expect(JSON.parse(Buffer.from(letter.payloadBase64, 'base64').toString())).toEqual({ mode, n: 24 });
    expect(deliveriesOf(24)).toHaveLength(2);
  });
});
