import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, Payload, type MicroserviceOptions } from '@nestjs/microservices';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { DataSource } from 'typeorm';

import { createNaming, newEnvelope, type ConsumerSpec, type Envelope, type Naming } from '@lifeline/contracts';
import { ConsumeEvent, JetStreamContext, JetStreamPublisher, JetStreamServer, PassThroughRpcExceptionFilter, deleteTopology, provisionTopology, type RawPublish } from '@lifeline/messaging';
import { createLogger, inSpan, currentTraceId } from '@lifeline/observability';
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
  override async publishRaw(msg: RawPublish) {
    this.calls.push(msg.msgId);
    return super.publishRaw(msg);
  }
}

function envelopeFor(aggregate: string, n: number): Envelope<{ aggregate: string; n: number }> {
  return newEnvelope({ type: 'clinical.test.outbox.v1', source: 'test', data: { aggregate, n }, idempotencyKey: `test|${aggregate}|${n}` });
}

async function readAll(nc: NatsConnection, naming: Naming): Promise<Array<{ aggregate: string; n: number; traceparent: string }>> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(naming.stream('CLINICAL'));
  const out: Array<{ aggregate: string; n: number; traceparent: string }> = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq += 1) {
    const m = await jsm.streams.getMessage(naming.stream('CLINICAL'), { seq });
    if (m) out.push({ ...m.json<{ aggregate: string; n: number }>(), traceparent: m.header.get('traceparent') });
  }
  return out;
}

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

  async function relayScenario(leaseMs: number): Promise<{ calls: string[]; published: Array<{ aggregate: string; n: number }> }> {
    await ds.query('TRUNCATE outbox');
    const naming = createNaming(uniquePrefix('relay'));
    await provisionTopology({ nc, naming, consumers: [] });
    for (let a = 0; a < 40; a += 1) {
      await runInTransaction(ds, (m) =>
        addToOutbox(m, Array.from({ length: 10 }, (_, n) => ({ envelope: envelopeFor(`agg-${a}`, n), aggregateId: `agg-${a}` }))),
      );
    }
    const p1 = new CountingPublisher(nc, naming);
    const p2 = new CountingPublisher(nc, naming);
    const relays = [p1, p2].map(
      (publisher, i) => new OutboxRelay({ databaseUrl: dbUrl, publisher, logger, owner: `r${i}`, leaseMs, batchAggregates: 10, rowsPerAggregate: 5, pollIntervalMs: 50 }),
    );
    await Promise.all(relays.map((r) => r.start()));
    await expectEventually(async () => expect(await count('SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL')).toBe(0), { timeoutMs: 20_000 });
    await Promise.all(relays.map((r) => r.stop()));
    const published = await readAll(nc, naming);
    await deleteTopology({ nc, naming });
    return { calls: [...p1.calls, ...p2.calls], published };
  }

  it('publishes each row exactly once with two relays running, keeping per-aggregate order', async () => {
    const { calls, published } = await relayScenario(30_000);
    expect(calls).toHaveLength(400);
    expect(new Set(calls).size).toBe(400);
    expect(published).toHaveLength(400);
    for (let a = 0; a < 40; a += 1) {
      expect(published.filter((p) => p.aggregate === `agg-${a}`).map((p) => p.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
  });

  it('negative control: without a lease the two relays publish rows twice', async () => {
    const { calls } = await relayScenario(0);
    expect(calls.length).toBeGreaterThan(new Set(calls).size);
  });

  it("continues the writing transaction's trace in the published message", async () => {
    await ds.query('TRUNCATE outbox');
    const naming = createNaming(uniquePrefix('trace'));
    await provisionTopology({ nc, naming, consumers: [] });
    let traceId: string | undefined;
    await inSpan({ name: 'test write' }, async () => {
      traceId = currentTraceId();
      await runInTransaction(ds, (m) => addToOutbox(m, { envelope: envelopeFor('t', 1), aggregateId: 't' }));
    });
    const relay = new OutboxRelay({ databaseUrl: dbUrl, publisher: new JetStreamPublisher(nc, naming), logger });
    expect(await relay.relayOnce()).toBe(1);
    await relay.stop();
    const [msg] = await readAll(nc, naming);
    await deleteTopology({ nc, naming });
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    // same trace, new parent: the relay's send span is a child of the writer's context
    expect(msg?.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
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
