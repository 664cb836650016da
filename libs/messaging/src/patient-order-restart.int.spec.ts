import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Module } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import type { INestMicroservice } from '@nestjs/common';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
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
  // short: the hand-over case waits for a message to come back after ack wait
  ackWaitMs: 8_000,
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
  async function startProcess(persistRetryHeads: boolean, handOverOnStop = true): Promise<{ app: INestMicroservice; conn: NatsConnection }> {
    const started = await startConsumerProcess(RestartModule, {
      naming,
      service: 'orders',
      serviceVersion: 'test',
      logger,
      consumers: [SPEC],
      drainTimeoutMs: 10_000,
      pullExpiresMs: PULL_EXPIRES_MS,
      ordering: { enabled: true, holdMs: HOLD_MS, parkHoldMs: 200, persistRetryHeads, handOverOnStop },
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

  /**
   * Runs the scenario: A's head fails, the process restarts while it waits, everything completes.
   * `lose`: before the stop, one of A's held events (3) is taken by another client and left unsettled,
   * as a delivery that reached the stopping process too late to be handed back: it returns only after
   * ack wait, after the head was applied in the next process.
   */
  async function restartWhileHeadRetries(persistRetryHeads: boolean, options: { lose?: boolean; handOverOnStop?: boolean } = {}): Promise<{ a: number[]; b: number[] }> {
    naming = createNaming(uniquePrefix('restart'));
    await provisionTopology({ nc, naming, consumers: [SPEC] });
    const first = await startProcess(persistRetryHeads, options.handOverOnStop);
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
    if (options.lose) await takeHeldEvent('pk-a', 3);
    // the restart: the old process goes away (its connection too), a new one takes the consumer
    await first.app.close();
    await first.conn.close();
    const second = await startProcess(persistRetryHeads, options.handOverOnStop);
    app = second.app;
    await expectEventually(() => expect(applied.get('pk-a')).toHaveLength(EVENTS), { timeoutMs: RETRY_DELAY_MS + SPEC.ackWaitMs + 15_000, message: "all of A's events applied" });
    return { a: applied.get('pk-a') ?? [], b: applied.get('pk-b') ?? [] };
  }

  /**
   * Another client pulls from the durable until it holds `patient`'s event `i` after the consumer
   * process had held it at least once (delivered ≥ 2 times), and leaves it unsettled; everything else it
   * gets goes straight back (nak without delay). Raw pull requests on an inbox it keeps until the end of
   * the test: a client-side fetch that ends at its expiry can drop a delivery that races the expiry,
   * which would leave another message away for ack wait and blur the negative control.
   */
  async function takeHeldEvent(patient: string, i: number): Promise<void> {
    const thief = await connect({ servers: testNatsUrl() });
    conns.push(thief);
    const inbox = createInbox();
    let taken = false;
    thief.subscribe(inbox, {
      callback: (err, m) => {
        // status replies (no messages, request expired) carry no ack subject
        if (err || !m.reply?.startsWith('$JS.ACK.')) return;
        const t = m.reply.split('.');
        const delivered = Number(t.length === 9 ? t[4] : t[6]);
        const data = JSON.parse(new TextDecoder().decode(m.data)) as Payload_;
        if (!taken && data.patient === patient && data.i === i && delivered >= 2) taken = true;
        else m.respond(new TextEncoder().encode('-NAK'));
      },
    });
    const next = `$JS.API.CONSUMER.MSG.NEXT.${naming.stream(SPEC.stream)}.${naming.durable(SPEC.durable)}`;
    await expectEventually(
      async () => {
        if (!taken) {
          // waits at the server beside the consumer's own pull requests (1 s, in nanoseconds)
          thief.publish(next, JSON.stringify({ batch: 10, expires: 1_000_000_000 }), { reply: inbox });
          await thief.flush();
        }
        expect(taken).toBe(true);
      },
      { timeoutMs: 10_000, message: `event ${i} of ${patient} taken after the consumer held it` },
    );
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

  it('keeps the order when a held event reached the stopping process too late to be handed back (it returns after ack wait)', async () => {
    const { a, b } = await restartWhileHeadRetries(true, { lose: true });

    expect(a).toEqual([0, 1, 2, 3, 4]);
    expect(b).toEqual([0, 1, 2, 3, 4]);
  }, 60_000);

  it('negative control: without the hand-over at the stop the next process runs event 4 before the lost event 3', async () => {
    const { a } = await restartWhileHeadRetries(true, { lose: true, handOverOnStop: false });

    expect([...a].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(a.indexOf(4)).toBeLessThan(a.indexOf(3));
  }, 60_000);
});
