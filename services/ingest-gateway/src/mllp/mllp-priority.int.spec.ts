import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { jetstreamManager, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';

import { SUBJECTS, createNaming, laneStream, laneSubject, type Naming } from '@lifeline/contracts';
import { MllpClient, parseHl7, type MllpServer } from '@lifeline/hl7';
import { deleteTopology, provisionTopology } from '@lifeline/messaging';
import { createLogger } from '@lifeline/observability';
import { hl7Orm, hl7Oru, testNatsUrl, uniquePrefix } from '@lifeline/testing';

import { AppModule } from '../app.module.js';
import { loadIngestGatewayConfig } from '../config/ingest-gateway.config.js';
import { MllpAckStore } from './mllp-ack.store.js';
import { MllpIngestService } from './mllp-ingest.service.js';
import { startMllpListener } from './mllp-listener.util.js';

// Real: nats-server (JetStream + KV, own prefix), the gateway's AppModule and MLLP listener in-process
// (startMllpListener, as main.ts), a TCP client. Nothing consumes INGEST or INGEST_STAT, so the streams
// hold exactly what the gateway stored, on the lane it chose.
const ROUTINE_SUBJECT = SUBJECTS.ingest.hl7v2;
const STAT_SUBJECT = laneSubject(SUBJECTS.ingest.hl7v2, 'stat');

describe('MllpIngestService priority lane (real nats-server, gateway in-process)', () => {
  const prefix = uniquePrefix('mllp-priority');
  const naming: Naming = createNaming(prefix);
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let app: INestApplication;
  let server: MllpServer;
  let port: number;

  /** Sends one message on a fresh connection; resolves with MSA-1. */
  async function send(text: string): Promise<string> {
    const client = new MllpClient({ timeoutMs: 10_000 });
    await client.connect('127.0.0.1', port);
    try {
      return parseHl7((await client.send(Buffer.from(text, 'utf8'))).toString('utf8')).field('MSA', 1);
    } finally {
      await client.close();
    }
  }

  /** The messages stored for this MSH-10 in INGEST and its stat twin, with the stream each is in. */
  async function storedFor(controlId: string): Promise<{ stream: string; msg: StoredMsg }[]> {
    const out: { stream: string; msg: StoredMsg }[] = [];
    for (const stream of [naming.stream('INGEST'), naming.stream(laneStream('INGEST', 'stat'))]) {
      const { state } = await jsm.streams.info(stream);
      if (state.messages === 0) continue;
      for (let seq = state.first_seq; seq <= state.last_seq; seq += 1) {
        const msg = await jsm.streams.getMessage(stream, { seq });
        if (msg !== null && msg.header.get('lifeline-hl7-control-id') === controlId) out.push({ stream, msg });
      }
    }
    return out;
  }

  const ids = (): { controlId: string; placerOrderNumber: string } => {
    const controlId = `prio-${randomUUID().slice(0, 18)}`;
    return { controlId, placerOrderNumber: `PLC-${controlId.slice(-6)}` };
  };

  beforeAll(async () => {
    nc = await connect({ servers: testNatsUrl() });
    jsm = await jetstreamManager(nc);
    await provisionTopology({ nc, naming, consumers: [] });
    const config = loadIngestGatewayConfig({
      NODE_ENV: 'test',
      NATS_URL: testNatsUrl(),
      NATS_PREFIX: prefix,
      HTTP_PORT: '0',
      MLLP_PORT: '0',
      LOG_LEVEL: 'silent',
    });
    const logger = createLogger({ service: 'ingest-gateway', level: 'silent' });
    app = await NestFactory.create(AppModule.forRoot(config, logger), { logger: false, abortOnError: false });
    await app.init();
    ({ server, port } = await startMllpListener({ config, ingest: app.get(MllpIngestService), logger }));
  }, 30_000);

  afterAll(async () => {
    await server?.close();
    await app?.close();
    if (nc) {
      await (await new Kvm(nc).open(MllpAckStore.bucket(naming))).destroy().catch(() => undefined);
      await deleteTopology({ nc, naming });
      await nc.close();
    }
  });

  it.each([
    ['a stat ORM (ORC-7.6 and TQ1-9 = S)', (m: ReturnType<typeof ids>) => hl7Orm({ ...m, patientId: 'CANARY-P1', priority: 'S' })],
    ['a stat ORM (OBR-5 = S only)', (m: ReturnType<typeof ids>) => hl7Orm({ ...m, patientId: 'CANARY-P2', obrPriority: 'S' })],
    [
      'a critical ORU (OBX-8 HH)',
      (m: ReturnType<typeof ids>) =>
        hl7Oru({ ...m, patientId: 'CANARY-P3', testCode: 'K', observations: [{ code: 'K', value: 6.9, units: 'mmol/L', range: '3.5-5.1', flags: 'HH' }] }),
    ],
  ])('stores %s on the INGEST stat lane (its own stream) with lifeline-priority stat, then answers AA', async (_what, build) => {
    const m = ids();

    expect(await send(build(m))).toBe('AA');

    const stored = await storedFor(m.controlId);
    expect(stored).toHaveLength(1);
    const [{ stream, msg }] = stored as [{ stream: string; msg: StoredMsg }];
    expect(stream).toBe(naming.stream('INGEST_STAT'));
    expect(msg.subject).toBe(naming.subject(STAT_SUBJECT));
    expect(msg.header.get('lifeline-priority')).toBe('stat');
    // the lane is the transport's: the type, msg id and the idempotency key stay the routine ones
    expect(msg.header.get('ce-type')).toBe(ROUTINE_SUBJECT);
    expect(msg.header.get('Nats-Msg-Id')).toMatch(new RegExp(`\\|${m.controlId}$`));
    expect(msg.header.get('lifeline-idempotency-key')).toMatch(new RegExp(`^hl7v2\\|.*\\|${m.controlId}$`));
  });

  it.each([
    ['a routine ORM', (m: ReturnType<typeof ids>) => hl7Orm({ ...m, patientId: 'CANARY-P4' })],
    ['an ORM with priority R', (m: ReturnType<typeof ids>) => hl7Orm({ ...m, patientId: 'CANARY-P5', priority: 'R' })],
    [
      'an ORU with abnormal, not critical, flags (H, L)',
      (m: ReturnType<typeof ids>) =>
        hl7Oru({ ...m, patientId: 'CANARY-P6', observations: [{ code: 'HGB', value: 17.9, flags: 'H' }, { code: 'WBC', value: 3.1, flags: 'L' }] }),
    ],
  ])('stores %s on the routine INGEST subject with lifeline-priority routine', async (_what, build) => {
    const m = ids();

    expect(await send(build(m))).toBe('AA');

    const stored = await storedFor(m.controlId);
    expect(stored).toHaveLength(1);
    const [{ stream, msg }] = stored as [{ stream: string; msg: StoredMsg }];
    expect(stream).toBe(naming.stream('INGEST'));
    expect(msg.subject).toBe(naming.subject(ROUTINE_SUBJECT));
    expect(msg.header.get('lifeline-priority')).toBe('routine');
    expect(msg.header.get('ce-type')).toBe(ROUTINE_SUBJECT);
  });
});
