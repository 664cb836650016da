import { createHash, randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { DataSource } from 'typeorm';

import { SUBJECTS, consumersOf, createNaming, laneSubject, withPriorityLanes, type Naming, type Priority } from '@lifeline/contracts';
import { classifyHl7Priority, parseMsh } from '@lifeline/hl7';
import { JetStreamPublisher, connectJetStream, deleteTopology, provisionTopology, type JetStreamServer } from '@lifeline/messaging';
import { createLogger } from '@lifeline/observability';
import { createServiceDataSource, migrateUnderLock } from '@lifeline/outbox';
import { SERVICE_RUNTIME, type ServiceRuntime } from '@lifeline/service-kit';
import { createTestDatabase, expectEventually, hl7Orm, testNatsUrl, uniquePrefix, type TestDatabase } from '@lifeline/testing';

import { AppModule } from '../app.module.js';
import { loadNormalizerConfig } from '../config/normalizer.config.js';
import { normalizerDatabase } from '../database.js';

// Real: nats-server (own prefix; INGEST, CLINICAL, their stat twins and both normalizer durables),
// PostgreSQL (own database, the normalizer's migrations), the whole AppModule with its JetStream
// consumers and outbox relay. The routine backlog is queued in INGEST before the normalizer starts.
// Measured by position, not latency: how many routine events reached CLINICAL before the stat one
// reached CLINICAL_STAT (server store times, one clock).

const SERVICE = 'normalizer';
const BACKLOG = 1_500;
const PUBLISH_WINDOW = 100;
const STAT_EVENT_SUBJECT = laneSubject(SUBJECTS.clinical.orderPlaced, 'stat');

describe('NormalizeService priority lane: a stat ORM overtakes a routine INGEST backlog', () => {
  const prefix = uniquePrefix('normalizer-prio');
  const naming: Naming = createNaming(prefix);
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let db: TestDatabase;
  let ds: DataSource;
  let app: INestApplication;
  let server: JetStreamServer;
  let runtime: ServiceRuntime;
  let publisher: JetStreamPublisher;
  let statOnLane: string;
  let statOnRoutine: string;

  const orm = (n: string, priority?: 'S'): Buffer =>
    Buffer.from(hl7Orm({ controlId: `PRIO-${n}`, placerOrderNumber: `PLC-${n}`, patientId: `CANARY-${n}`, priority }), 'utf8');

  /** Publishes raw HL7 to INGEST with MllpIngestService's headers; `priority` picks the lane. */
  async function ingest(raw: Buffer, priority: Priority, msgIdSuffix = ''): Promise<{ id: string; seq: number }> {
    const msh = parseMsh(raw);
    const id = randomUUID();
    const ack = await publisher.publishRaw({
      subject: laneSubject(SUBJECTS.ingest.hl7v2, priority),
      headers: {
        'ce-id': id,
        'ce-type': SUBJECTS.ingest.hl7v2,
        'ce-source': `mllp://${msh.sendingApplication}/${msh.sendingFacility}`,
        'ce-time': new Date().toISOString(),
        'ce-specversion': '1.0',
        'lifeline-correlation-id': id,
        'lifeline-idempotency-key': `hl7v2|${msh.sendingApplication}|${msh.sendingFacility}|${msh.controlId}`,
        'lifeline-priority': priority,
        'ce-datacontenttype': 'application/hl7-v2+er7',
        'lifeline-hl7-message-type': msh.messageType,
        'lifeline-hl7-control-id': msh.controlId,
        'lifeline-hl7-sending-application': msh.sendingApplication,
        'lifeline-hl7-sending-facility': msh.sendingFacility,
        'lifeline-hl7-sha256': createHash('sha256').update(raw).digest('hex'),
        'lifeline-remote-address': '127.0.0.1',
      },
      body: raw,
      msgId: `${msh.sendingApplication}|${msh.sendingFacility}|${msh.controlId}${msgIdSuffix}`,
      expectStream: 'INGEST',
    });
    return { id, seq: ack.seq };
  }

  /** This file's clinical events: routine ones in CLINICAL, stat ones in its stat twin CLINICAL_STAT. */
  const clinicalCount = async (): Promise<number> =>
    (await jsm.streams.info(naming.stream('CLINICAL'))).state.messages + (await jsm.streams.info(naming.stream('CLINICAL_STAT'))).state.messages;

  /** Server store time (ns) of each stat order event, by the INGEST message that caused it. */
  async function statEventTimes(): Promise<Map<string, bigint>> {
    const consumer = await jetstream(nc).consumers.get(naming.stream('CLINICAL_STAT'), { filter_subjects: naming.subject(STAT_EVENT_SUBJECT) });
    const out = new Map<string, bigint>();
    const batch = await consumer.fetch({ max_messages: 10, expires: 1_000 });
    for await (const m of batch) out.set(m.headers?.get('lifeline-causation-id') ?? '', m.timestampNanos);
    return out;
  }

  /**
   * Server store times (ns) of every routine event in CLINICAL. The two streams share the server's
   * clock, so "routine events stored before the stat one" is a count of earlier store times.
   */
  async function routineEventTimes(): Promise<bigint[]> {
    const total = (await jsm.streams.info(naming.stream('CLINICAL'))).state.messages;
    const consumer = await jetstream(nc).consumers.get(naming.stream('CLINICAL'));
    const times: bigint[] = [];
    while (times.length < total) {
      const batch = await consumer.fetch({ max_messages: Math.min(500, total - times.length), expires: 2_000 });
      for await (const m of batch) times.push(m.timestampNanos);
    }
    return times;
  }

  beforeAll(async () => {
    nc = await connect({ servers: testNatsUrl() });
    jsm = await jetstreamManager(nc);
    await provisionTopology({ nc, naming, consumers: withPriorityLanes(consumersOf(SERVICE)) });
    publisher = new JetStreamPublisher(nc, naming);
    db = await createTestDatabase('normalizer-prio');
    const config = loadNormalizerConfig({
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      DATABASE_POOL_SIZE: '4',
      NATS_URL: testNatsUrl(),
      NATS_PREFIX: prefix,
      HTTP_PORT: '0',
      LOG_LEVEL: 'silent',
      PATIENT_KEY_SECRET: 'normalizer-prio-test-secret',
    });
    ds = createServiceDataSource({ service: SERVICE, url: db.url, migrations: normalizerDatabase(config).migrations, poolSize: 2 });
    await ds.initialize();
    await migrateUnderLock(ds, SERVICE);

    // The backlog, then the same stat ORM twice: once on the routine subject behind the backlog
    // (negative control), once on the stat lane, last of all.
    const run = randomUUID().slice(0, 6);
    for (let start = 0; start < BACKLOG; start += PUBLISH_WINDOW) {
      const window = Array.from({ length: Math.min(PUBLISH_WINDOW, BACKLOG - start) }, (_, i) => ingest(orm(`${run}-${start + i}`), 'routine'));
      await Promise.all(window);
    }
    const control = orm(`${run}-control`, 'S');
    const stat = orm(`${run}-stat`, 'S');
    expect([classifyHl7Priority(control), classifyHl7Priority(stat)]).toEqual(['stat', 'stat']);
    statOnRoutine = (await ingest(control, 'routine')).id;
    statOnLane = (await ingest(stat, 'stat')).id;

    const logger = createLogger({ service: SERVICE, level: 'silent' });
    app = await NestFactory.create(AppModule.forRoot(config, logger), { logger: false, abortOnError: false });
    runtime = app.get<ServiceRuntime>(SERVICE_RUNTIME);
    await runtime.relay?.start();
    server = await connectJetStream(app);
    await app.init();
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await runtime?.relay?.stop();
    await app?.close();
    await ds?.destroy();
    if (nc) {
      await deleteTopology({ nc, naming });
      await nc.drain();
    }
    await db?.drop();
  });

  it('normalizes the stat-lane ORM before half the backlog is out; the same ORM on the routine subject waits for most of it', async () => {
    // The control is the routine lane's last message, so once it is out and the backlog has drained
    // every position is final.
    const times = await expectEventually(
      async () => {
        const found = await statEventTimes();
        expect([...found.keys()].sort()).toEqual([statOnLane, statOnRoutine].sort());
        return found;
      },
      { timeoutMs: 45_000, intervalMs: 500, message: 'both stat order events on CLINICAL_STAT' },
    );
    // the backlog still drains completely: the lane delays nothing, it only reorders
    await expectEventually(async () => expect(await clinicalCount()).toBe(BACKLOG + 2), {
      timeoutMs: 30_000,
      intervalMs: 250,
      message: 'the whole backlog normalized',
    });
    const laneAt = times.get(statOnLane) ?? 0n;
    const controlAt = times.get(statOnRoutine) ?? 0n;
    const routine = await routineEventTimes();
    const routineBeforeLane = routine.filter((t) => t < laneAt).length;
    const routineBeforeControl = routine.filter((t) => t < controlAt).length;

    expect(routine).toHaveLength(BACKLOG);
    expect(laneAt).toBeLessThan(controlAt);
    expect(routineBeforeLane).toBeLessThan(BACKLOG / 2);
    expect(routineBeforeControl).toBeGreaterThanOrEqual(BACKLOG / 2);
  }, 60_000);

  it('maps a message once whichever lane delivers it: the inbox is keyed by the routine durable on both', async () => {
    // e.g. a resend classified by a newer gateway, or a replay onto the routine subject
    const raw = orm(`${randomUUID().slice(0, 6)}-both`, 'S');
    const before = BACKLOG + 2;
    await expectEventually(async () => expect(await clinicalCount()).toBe(before), { timeoutMs: 30_000, message: 'the backlog normalized' });
    await ingest(raw, 'stat');
    await expectEventually(async () => expect(await clinicalCount()).toBe(before + 1), { message: 'the stat copy normalized' });
    const routineCopy = await ingest(raw, 'routine', '|copy');

    await expectEventually(
      async () => {
        const info = await jsm.consumers.info(naming.stream('INGEST'), naming.durable('normalizer-ingest-hl7v2'));
        expect(info.ack_floor.stream_seq).toBeGreaterThanOrEqual(routineCopy.seq);
        const unsent: Array<{ n: string }> = await ds.query('SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL');
        expect(Number(unsent[0]?.n)).toBe(0);
      },
      { message: 'the routine copy settled' },
    );
    expect(await clinicalCount()).toBe(before + 1);
    const inbox: Array<{ consumer: string }> = await ds.query('SELECT consumer FROM inbox WHERE message_id = $1', [`hl7v2|EHR|HOSP|${parseMsh(raw).controlId}`]);
    expect(inbox).toEqual([{ consumer: naming.durable('normalizer-ingest-hl7v2') }]);
  });
});
