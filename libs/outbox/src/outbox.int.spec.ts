import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, Payload, type MicroserviceOptions } from '@nestjs/microservices';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { DataSource } from 'typeorm';

import { createNaming, newEnvelope, type ConsumerSpec, type Envelope, type Naming } from '@lifeline/contracts';
import { ConsumeEvent, JetStreamContext, JetStreamPublisher, JetStreamServer, PassThroughRpcExceptionFilter, deleteTopology, provisionTopology, type RawPublish } from '@lifeline/messaging';
import { createLogger, inSpan } from '@lifeline/observability';
import { createTestDatabase, expectEventually, installTestTracing, testNatsUrl, uniquePrefix } from '@lifeline/testing';

import { addToOutbox, configureOutbox } from './outbox.writer.js';
import { claimInbox } from './inbox.util.js';
import { createServiceDataSource, migrateUnderLock } from './database.util.js';
import { OutboxRelay } from './outbox.relay.js';
import { runInTransaction } from './transaction.util.js';

const logger = createLogger({ service: 'test', level: 'silent' });

/** A real publisher that also counts what it was asked to publish (the broker would hide duplicates). */
class CountingPublisher extends JetStreamPublisher {
  readonly calls: string[] = [];
  /** Per-publish delay: makes the relays' batches overlap in time. */
  delayMs = 0;
  /** When set, every publish after the first `stallAfter` waits for `gate` (a relay frozen mid-batch). */
  stallAfter = Number.POSITIVE_INFINITY;
  gate: Promise<void> = Promise.resolve();
  stalled = 0;
  readonly duplicates: string[] = [];

  override async publishRaw(msg: RawPublish) {
    this.calls.push(msg.msgId);
    if (this.calls.length > this.stallAfter) {
      this.stalled += 1;
      await this.gate;
    }
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const ack = await super.publishRaw(msg);
    if (ack.duplicate) this.duplicates.push(msg.msgId);
    return ack;
  }
}

function envelopeFor(aggregate: string, n: number): Envelope<{ aggregate: string; n: number }> {
  return newEnvelope({ type: 'clinical.test.outbox.v1', source: 'test', data: { aggregate, n }, idempotencyKey: `test|${aggregate}|${n}` });
}

/** The CLINICAL stream's messages in stream order (an ordered consumer: fast enough for 20,000). */
async function readAll(nc: NatsConnection, naming: Naming): Promise<Array<{ aggregate: string; n: number; traceparent: string }>> {
  const jsm = await jetstreamManager(nc);
  const total = (await jsm.streams.info(naming.stream('CLINICAL'))).state.messages;
  const out: Array<{ aggregate: string; n: number; traceparent: string }> = [];
  if (total === 0) return out;
  const consumer = await jetstream(nc).consumers.get(naming.stream('CLINICAL'));
  const messages = await consumer.consume();
  for await (const m of messages) {
    out.push({ ...m.json<{ aggregate: string; n: number }>(), traceparent: m.headers?.get('traceparent') ?? '' });
    if (out.length >= total) break;
  }
  await messages.close();
  return out;
}

/** Per aggregate, the `n`s in the order they appear on the stream. */
function orderByAggregate(published: Array<{ aggregate: string; n: number }>): Map<string, number[]> {
  const byAggregate = new Map<string, number[]>();
  for (const p of published) byAggregate.set(p.aggregate, [...(byAggregate.get(p.aggregate) ?? []), p.n]);
  return byAggregate;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('outbox, relay and inbox (real PostgreSQL + nats-server)', () => {
  let nc: NatsConnection;
  let ds: DataSource;
  let dbUrl: string;
  let dropDb: () => Promise<void>;

  beforeAll(async () => {
    installTestTracing();
    nc = await connect({ servers: testNatsUrl() });
    const db = await createTestDatabase('outbox');
    dbUrl = db.url;
    dropDb = db.drop;
    ds = createServiceDataSource({ service: 'outbox-test', url: db.url });
    await ds.initialize();
    await migrateUnderLock(ds, 'outbox-test');
  });

  afterAll(async () => {
    await ds.destroy();
    await dropDb();
    await nc.drain();
  });

  async function count(sql: string): Promise<number> {
    const rows: Array<{ n: string }> = await ds.query(sql);
    return Number(rows[0]?.n ?? 0);
  }

  it('writes no outbox row when the transaction rolls back, one when it commits', async () => {
    await ds.query('TRUNCATE outbox');
    await expect(
      runInTransaction(ds, async (m) => {
        await addToOutbox(m, { envelope: envelopeFor('a', 1), aggregateId: 'a' });
        throw new Error('business rule failed after the outbox write');
      }),
    ).rejects.toThrow('business rule failed');
    expect(await count('SELECT count(*) AS n FROM outbox')).toBe(0);
    await runInTransaction(ds, (m) => addToOutbox(m, { envelope: envelopeFor('a', 2), aggregateId: 'a' }));
    expect(await count('SELECT count(*) AS n FROM outbox')).toBe(1);
  });

  /** `rows` rows for each of `aggregates` aggregates, row n of every aggregate in transaction n. */
  async function writeInterleaved(aggregates: number, rows: number, name = (a: number) => `agg-${a}`): Promise<void> {
    for (let n = 0; n < rows; n += 1) {
      await runInTransaction(ds, (m) => addToOutbox(m, range(aggregates).map((a) => ({ envelope: envelopeFor(name(a), n), aggregateId: name(a) }))));
    }
  }

  async function relayScenario(unsafeClaim?: 'no-row-lock'): Promise<{ calls: string[]; published: Array<{ aggregate: string; n: number }> }> {
    await ds.query('TRUNCATE outbox');
    const naming = createNaming(uniquePrefix('relay'));
    await provisionTopology({ nc, naming, consumers: [] });
    await writeInterleaved(60, 10);
    const publishers = [0, 1, 2].map(() => Object.assign(new CountingPublisher(nc, naming), { delayMs: 3 }));
    const relays = publishers.map(
      (publisher, i) => new OutboxRelay({ databaseUrl: dbUrl, publisher, logger, owner: `r${i}`, unsafeClaim, batchAggregates: 10, rowsPerAggregate: 5, pollIntervalMs: 50 }),
    );
    await Promise.all(relays.map((r) => r.start()));
    await expectEventually(async () => expect(await count('SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL')).toBe(0), { timeoutMs: 30_000 });
    await Promise.all(relays.map((r) => r.stop()));
    const published = await readAll(nc, naming);
    await deleteTopology({ nc, naming });
    return { calls: publishers.flatMap((p) => p.calls), published };
  }

  it('publishes each row exactly once with three relays running, keeping per-aggregate order', async () => {
    const { calls, published } = await relayScenario();
    expect(calls).toHaveLength(600);
    expect(new Set(calls).size).toBe(600);
    expect(published).toHaveLength(600);
    const order = orderByAggregate(published);
    expect(order.size).toBe(60);
    for (const ns of order.values()) expect(ns).toEqual(range(10));
  });

  it('negative control: without the row lock the relays publish rows twice', async () => {
    const { calls } = await relayScenario('no-row-lock');
    expect(calls.length).toBeGreaterThan(new Set(calls).size);
  });

  it('skips an aggregate whose head another relay holds, even its rows that relay did not claim', async () => {
    await ds.query('TRUNCATE outbox');
    const naming = createNaming(uniquePrefix('skip'));
    await provisionTopology({ nc, naming, consumers: [] });
    await writeInterleaved(5, 10);
    const holder = Object.assign(new CountingPublisher(nc, naming), { stallAfter: 0 });
    let release = (): void => undefined;
    holder.gate = new Promise<void>((r) => (release = r));
    // claims every aggregate but only 3 rows of each: rows 3..9 are neither claimed nor locked by it
    const a = new OutboxRelay({ databaseUrl: dbUrl, publisher: holder, logger, batchAggregates: 10, rowsPerAggregate: 3 });
    const b = new OutboxRelay({ databaseUrl: dbUrl, publisher: new CountingPublisher(nc, naming), logger });
    try {
      const aBatch = a.relayOnce();
      await expectEventually(() => expect(holder.stalled).toBe(5));
      expect(await b.relayOnce()).toBe(0);
      release();
      expect(await aBatch).toBe(15);
      expect(await b.relayOnce()).toBe(35);
      const order = orderByAggregate(await readAll(nc, naming));
      for (const ns of order.values()) expect(ns).toEqual(range(10));
    } finally {
      release();
      await Promise.all([a.stop(), b.stop()]);
      await deleteTopology({ nc, naming });
    }
  });

  it("republishes a crashed relay's claimed rows from another relay: none lost, duplicates dropped by Nats-Msg-Id, order kept", async () => {
    await ds.query('TRUNCATE outbox');
    const naming = createNaming(uniquePrefix('crash'));
    await provisionTopology({ nc, naming, consumers: [] });
    await writeInterleaved(20, 10);
    // published 3 rows, then frozen mid-batch with the rest of its claim unmarked
    const crashing = Object.assign(new CountingPublisher(nc, naming), { stallAfter: 3 });
    let release = (): void => undefined;
    crashing.gate = new Promise<void>((r) => (release = r));
    const survivorPublisher = new CountingPublisher(nc, naming);
    const a = new OutboxRelay({ databaseUrl: dbUrl, publisher: crashing, logger, owner: 'crashing', batchAggregates: 20, rowsPerAggregate: 10, maxInFlight: 4 });
    const b = new OutboxRelay({ databaseUrl: dbUrl, publisher: survivorPublisher, logger, owner: 'survivor', pollIntervalMs: 50 });
    try {
      const aBatch = a.relayOnce();
      await expectEventually(() => expect(crashing.stalled).toBeGreaterThan(0));
      expect(await b.relayOnce()).toBe(0);
      // the server ends the frozen relay's session, as when its process dies: claim and locks go with it
      await ds.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'outbox-relay:crashing'`);
      await b.start();
      await expectEventually(async () => expect(await count('SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL')).toBe(0), { timeoutMs: 20_000 });
      release();
      await expect(aBatch).rejects.toThrow();
      const published = await readAll(nc, naming);
      expect(published).toHaveLength(200);
      const order = orderByAggregate(published);
      expect(order.size).toBe(20);
      for (const ns of order.values()) expect(ns).toEqual(range(10));
      // the 3 rows the crashed relay had published went out again and the broker dropped them
      expect(survivorPublisher.calls).toHaveLength(200);
      expect(survivorPublisher.duplicates).toEqual(expect.arrayContaining(crashing.calls.slice(0, 3)));
      expect(survivorPublisher.duplicates).toHaveLength(3);
    } finally {
      release();
      await Promise.all([a.stop(), b.stop()]);
      await deleteTopology({ nc, naming });
    }
  });

  it('holds back the rest of an aggregate after a failed publish until the retry time, other aggregates carry on', async () => {
    await ds.query('TRUNCATE outbox');
    const naming = createNaming(uniquePrefix('retry'));
    await provisionTopology({ nc, naming, consumers: [] });
    await writeInterleaved(3, 5);
    class FailingOncePublisher extends JetStreamPublisher {
      failed = false;
      override async publishRaw(msg: RawPublish) {
        const { aggregate, n } = JSON.parse(new TextDecoder().decode(msg.body)) as { aggregate: string; n: number };
        if (!this.failed && aggregate === 'agg-1' && n === 2) {
          this.failed = true;
          throw new Error('PubAck timed out');
        }
        return super.publishRaw(msg);
      }
    }
    const relay = new OutboxRelay({ databaseUrl: dbUrl, publisher: new FailingOncePublisher(nc, naming), logger, retryDelayMs: 500 });
    try {
      expect(await relay.relayOnce()).toBe(12);
      const rows: Array<{ n: number; attempts: number; last_error: string | null; waiting: boolean }> = await ds.query(
        `SELECT (payload->>'n')::int AS n, attempts, last_error, lease_until > clock_timestamp() AS waiting FROM outbox WHERE aggregate_id = 'agg-1' AND sent_at IS NULL ORDER BY seq`,
      );
      expect(rows).toEqual([
        { n: 2, attempts: 1, last_error: 'Error', waiting: true },
        { n: 3, attempts: 0, last_error: null, waiting: true },
        { n: 4, attempts: 0, last_error: null, waiting: true },
      ]);
      expect(await relay.relayOnce()).toBe(0);
      await expectEventually(async () => expect(await relay.relayOnce()).toBe(3), { timeoutMs: 5_000, intervalMs: 100 });
      const order = orderByAggregate(await readAll(nc, naming));
      expect([...order.values()]).toEqual([range(5), range(5), range(5)]);
    } finally {
      await relay.stop();
      await deleteTopology({ nc, naming });
    }
  });

  it('drains a backlog of 20,000 unsent rows completely, in per-aggregate order', async () => {
    await ds.query('TRUNCATE outbox');
    const naming = createNaming(uniquePrefix('backlog'));
    await provisionTopology({ nc, naming, consumers: [] });
    // 1,000 aggregates × 19 rows interleaved, plus one deep aggregate of 1,000 rows spread across them
    for (let n = 0; n < 19; n += 1) {
      await runInTransaction(ds, (m) =>
        addToOutbox(m, [
          ...range(1_000).map((a) => ({ envelope: envelopeFor(`agg-${a}`, n), aggregateId: `agg-${a}` })),
          ...range(52).map((i) => ({ envelope: envelopeFor('deep', n * 52 + i), aggregateId: 'deep' })),
        ]),
      );
    }
    await runInTransaction(ds, (m) => addToOutbox(m, range(1_000 - 19 * 52).map((i) => ({ envelope: envelopeFor('deep', 19 * 52 + i), aggregateId: 'deep' }))));
    expect(await count('SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL')).toBe(20_000);
    const relays = [0, 1].map((i) => new OutboxRelay({ databaseUrl: dbUrl, publisher: new JetStreamPublisher(nc, naming), logger, owner: `b${i}`, pollIntervalMs: 50 }));
    try {
      await Promise.all(relays.map((r) => r.start()));
      await expectEventually(async () => expect(await count('SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL')).toBe(0), { timeoutMs: 100_000, intervalMs: 500 });
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
    const published = await readAll(nc, naming);
    await deleteTopology({ nc, naming });
    expect(published).toHaveLength(20_000);
    const order = orderByAggregate(published);
    expect(order.size).toBe(1_001);
    expect(order.get('deep')).toEqual(range(1_000));
    for (const [aggregate, ns] of order) if (aggregate !== 'deep') expect(ns).toEqual(range(19));
  }, 150_000);

  // Control for the two below: the same write and relay with each mode; the assertions tell them apart.
  async function relayOneTraced(spans: 'batch' | 'message'): Promise<{ writer: { traceId: string; spanId: string }; traceparent: string }> {
    await ds.query('TRUNCATE outbox');
    const naming = createNaming(uniquePrefix(`trace-${spans}`));
    await provisionTopology({ nc, naming, consumers: [] });
    let writer = { traceId: '', spanId: '' };
    await inSpan({ name: 'test write' }, async (span) => {
      writer = { traceId: span.spanContext().traceId, spanId: span.spanContext().spanId };
      await runInTransaction(ds, (m) => addToOutbox(m, { envelope: envelopeFor('t', 1), aggregateId: 't' }));
    });
    const relay = new OutboxRelay({ databaseUrl: dbUrl, publisher: new JetStreamPublisher(nc, naming), logger, spans });
    expect(await relay.relayOnce()).toBe(1);
    await relay.stop();
    const [msg] = await readAll(nc, naming);
    await deleteTopology({ nc, naming });
    expect(writer.traceId).toMatch(/^[0-9a-f]{32}$/);
    return { writer, traceparent: msg?.traceparent ?? '' };
  }

  it("carries the writing transaction's trace context in the published message, one linked send span per batch (spans: 'batch')", async () => {
    const exporter = installTestTracing();
    exporter.reset();
    const { writer, traceparent } = await relayOneTraced('batch');
    // the next consumer's span will be a child of the writer's span itself
    expect(traceparent).toBe(`00-${writer.traceId}-${writer.spanId}-01`);
    const sends = exporter.getFinishedSpans().filter((s) => s.name.startsWith('send'));
    expect(sends.map((s) => s.name)).toEqual(['send outbox']);
    const [batch] = sends;
    expect(batch?.parentSpanContext).toBeUndefined(); // a root of its own
    expect(batch?.spanContext().traceId).not.toBe(writer.traceId);
    expect(batch?.links.map((l) => l.context.spanId)).toEqual([writer.spanId]);
    expect(batch?.attributes['messaging.batch.message_count']).toBe(1);
  });

  it("continues the writing transaction's trace through a send span per message (spans: 'message')", async () => {
    const exporter = installTestTracing();
    exporter.reset();
    const { writer, traceparent } = await relayOneTraced('message');
    // same trace, new parent: the relay's send span, a child of the writer's context
    const sends = exporter.getFinishedSpans().filter((s) => s.name.startsWith('send'));
    expect(sends).toHaveLength(1);
    const [send] = sends;
    expect(send?.spanContext().traceId).toBe(writer.traceId);
    expect(send?.parentSpanContext?.spanId).toBe(writer.spanId);
    expect(traceparent).toBe(`00-${writer.traceId}-${send?.spanContext().spanId}-01`);
  });

  it('wakes a relay in another process through LISTEN/NOTIFY when notify is on (poll fallback 60 s)', async () => {
    await ds.query('TRUNCATE outbox');
    const naming = createNaming(uniquePrefix('notify'));
    await provisionTopology({ nc, naming, consumers: [] });
    const relay = new OutboxRelay({ databaseUrl: dbUrl, publisher: new JetStreamPublisher(nc, naming), logger, pollIntervalMs: 60_000 });
    await relay.start();
    const unsent = (): Promise<number> => count('SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL');
    await expectEventually(() => expect(relay.state).toBe('idle'));
    try {
      // ds.transaction, not runInTransaction: no in-process signal, as for a writer in another process.
      // Control: without NOTIFY the row stays unsent (the relay sleeps on its 60 s poll) for a second.
      await ds.transaction((m) => addToOutbox(m, { envelope: envelopeFor('n', 1), aggregateId: 'n' }));
      const quietUntil = Date.now() + 1_000;
      while (Date.now() < quietUntil) {
        expect(await unsent()).toBe(1);
        await new Promise((r) => setTimeout(r, 100));
      }
      configureOutbox({ notify: true });
      await ds.transaction((m) => addToOutbox(m, { envelope: envelopeFor('n', 2), aggregateId: 'n' }));
      await expectEventually(async () => expect(await unsent()).toBe(0), { timeoutMs: 10_000 });
    } finally {
      configureOutbox({ notify: false });
      await relay.stop();
      await deleteTopology({ nc, naming });
    }
  });

  describe('duplicate delivery', () => {
    const SPEC: ConsumerSpec = {
      durable: 'orders-inbox-test',
      service: 'orders',
      stream: 'CLINICAL',
      filterSubject: 'clinical.inbox-test.>',
      maxAttempts: 3,
      ackWaitMs: 30_000,
      concurrency: 4,
    };
    let effects = 0;
    let handled = 0;

    @Controller()
    class EffectHandler {
      @ConsumeEvent(SPEC.filterSubject)
      async handle(@Payload() env: Envelope<{ n: number }>, @Ctx() ctx: JetStreamContext): Promise<void> {
        handled += 1;
        await runInTransaction(ds, async (m) => {
          if (!(await claimInbox(m, ctx.durable, env.idempotencyKey))) return;
          await m.query('INSERT INTO effects_test (n) VALUES ($1)', [env.data.n]);
          effects += 1;
        });
      }
    }

    @Module({ controllers: [EffectHandler] })
    class EffectModule {}

    it('applies a message delivered twice (same message id, past the broker window) once', async () => {
      await ds.query('CREATE TABLE IF NOT EXISTS effects_test (n int NOT NULL)');
      const naming = createNaming(uniquePrefix('inbox'));
      await provisionTopology({ nc, naming, consumers: [SPEC] });
      const server = new JetStreamServer({ nc, naming, service: 'orders', serviceVersion: 'test', logger, consumers: [SPEC] });
      const app: INestMicroservice = await NestFactory.createMicroservice<MicroserviceOptions>(EffectModule, { strategy: server, logger: false });
      app.useGlobalFilters(new PassThroughRpcExceptionFilter());
      await app.listen();
      const publisher = new JetStreamPublisher(nc, naming);
      const env = newEnvelope({ type: 'clinical.inbox-test.v1', source: 'test', data: { n: 1 }, idempotencyKey: 'test|inbox|1' });
      // a second Nats-Msg-Id simulates a redelivery after the broker's duplicate window (e.g. a replay)
      await publisher.publishRaw({ subject: env.type, headers: { 'ce-id': env.id, 'ce-type': env.type, 'ce-source': env.source, 'ce-time': env.time, 'lifeline-idempotency-key': env.idempotencyKey }, body: Buffer.from(JSON.stringify(env.data)), msgId: `${env.id}-a` });
      await publisher.publishRaw({ subject: env.type, headers: { 'ce-id': env.id, 'ce-type': env.type, 'ce-source': env.source, 'ce-time': env.time, 'lifeline-idempotency-key': env.idempotencyKey }, body: Buffer.from(JSON.stringify(env.data)), msgId: `${env.id}-b` });
      await expectEventually(() => expect(handled).toBe(2));
      await app.close();
      await deleteTopology({ nc, naming });
      expect(effects).toBe(1);
      expect(await count('SELECT count(*) AS n FROM effects_test')).toBe(1);
    });
  });
});
