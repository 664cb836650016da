import { randomUUID } from 'node:crypto';
import { connect as connectTcp } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';

import { STREAMS, createNaming, type Naming } from '@lifeline/contracts';
import { parseMsh, type MllpServer } from '@lifeline/hl7';
import { deleteTopology, provisionTopology } from '@lifeline/messaging';
import { createLogger, registry } from '@lifeline/observability';
import { ackCode, expectEventually, hl7Orm, testNatsUrl, uniquePrefix } from '@lifeline/testing';

import { AppModule } from '../app.module.js';
import { loadIngestGatewayConfig } from '../config/ingest-gateway.config.js';
import { MllpAckStore } from './mllp-ack.store.js';
import { duplicateKey, normalizedSha256, type StoredAck } from './mllp-duplicate.util.js';
import { MllpIngestService } from './mllp-ingest.service.js';
import { startMllpListener } from './mllp-listener.util.js';

// Real: nats-server (JetStream + KV), the gateway's Nest module and MLLP listener in-process, TCP.
// INGEST gets a 1 s duplicate window so "after the broker's dedup window" needs no long wait.
const DEDUP_WINDOW_MS = 1_000;
const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

interface Gateway {
  app: INestApplication;
  server: MllpServer;
  port: number;
}

const frame = (payload: string): Buffer =>
  Buffer.concat([Buffer.from([VT]), Buffer.from(payload, 'latin1'), Buffer.from([FS, CR])]);

/** One message on a fresh connection, bytes exactly as given (no normalization); resolves with the ACK. */
function exchange(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    socket.on('connect', () => socket.write(frame(payload)));
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('closed before a complete ACK')));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const start = buffer.indexOf(VT);
      const end = buffer.indexOf(FS, start + 1);
      if (start === -1 || end === -1) return;
      resolve(buffer.subarray(start + 1, end).toString('latin1'));
      socket.destroy();
    });
  });
}

describe('MLLP duplicate detection (R17; real nats-server, gateway in-process)', () => {
  const prefix = uniquePrefix('mllp-dup');
  const naming: Naming = createNaming(prefix);
  const logger = createLogger({ service: 'ingest-gateway', level: 'silent' });
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let guarded: Gateway;
  let unguarded: Gateway;

  async function startGateway(detection: boolean, horizonMs = '600000'): Promise<Gateway> {
    const config = loadIngestGatewayConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      HTTP_PORT: '0',
      NATS_URL: testNatsUrl(),
      NATS_PREFIX: prefix,
      MLLP_PORT: '0',
      MLLP_DUPLICATE_DETECTION: String(detection),
      MLLP_DUPLICATE_HORIZON_MS: horizonMs,
    });
    const app = await NestFactory.create(AppModule.forRoot(config, logger), { logger: false });
    await app.init();
    const { server, port } = await startMllpListener({ config, ingest: app.get(MllpIngestService), logger });
    return { app, server, port };
  }

  /** INGEST messages stored for one MSH-10 (this file's prefix has its own INGEST stream). */
  async function ingestCount(controlId: string): Promise<number> {
    const info = await jsm.streams.info(naming.stream('INGEST'));
    let count = 0;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const msg = await jsm.streams.getMessage(naming.stream('INGEST'), { seq }).catch(() => null);
      if (msg?.header.get('lifeline-hl7-control-id') === controlId) count++;
    }
    return count;
  }

  /** Resolves once a Nats-Msg-Id published now is forgotten by INGEST, so every older one is too. */
  async function outlastDedupWindow(): Promise<void> {
    const subject = naming.subject('ingest.probe.v1');
    const msgID = `probe-${randomUUID()}`;
    await js.publish(subject, 'probe', { msgID });
    await expectEventually(async () => !(await js.publish(subject, 'probe', { msgID })).duplicate, {
      timeoutMs: DEDUP_WINDOW_MS * 20,
      intervalMs: 200,
      message: 'INGEST forgets the probe Nats-Msg-Id',
    });
  }

  async function conflicts(): Promise<number> {
    const metric = await registry.getSingleMetric('mllp_duplicate_conflicts_total')?.get();
    return metric?.values[0]?.value ?? 0;
  }

  const orm = (controlId: string, extra: { testCode?: string; enhanced?: boolean } = {}): string =>
    hl7Orm({ controlId, placerOrderNumber: `PLC-${controlId.slice(-6)}`, patientId: 'CANARY-R17', timestamp: new Date('2026-01-02T03:04:05Z'), ...extra });

  beforeAll(async () => {
    nc = await connect({ servers: testNatsUrl() });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    const ingest = STREAMS.filter((s) => s.name === 'INGEST').map((s) => ({ ...s, duplicateWindowMs: DEDUP_WINDOW_MS }));
    await provisionTopology({ nc, naming, streams: ingest, consumers: [] });
    guarded = await startGateway(true);
    unguarded = await startGateway(false);
  }, 30_000);

  afterAll(async () => {
    for (const gw of [guarded, unguarded]) {
      await gw?.server.close();
      await gw?.app.close();
    }
    if (nc) {
      await (await new Kvm(nc).open(MllpAckStore.bucket(naming))).destroy().catch(() => undefined);
      await deleteTopology({ nc, naming });
      await nc.close();
    }
  });

  it('creates the ACK bucket at boot with the configured horizon and history 1', async () => {
    const status = await (await new Kvm(nc).open(MllpAckStore.bucket(naming))).status();
    expect(status.history).toBe(1);
    expect(status.ttl).toBe(600_000);
    expect(status.storage).toBe('file');
  });

  it('applies a changed horizon to the existing bucket at the next boot', async () => {
    const other = await startGateway(true, '900000');
    try {
      const status = await (await new Kvm(nc).open(MllpAckStore.bucket(naming))).status();
      expect(status.ttl).toBe(900_000);
    } finally {
      await other.server.close();
      await other.app.close();
    }
  });

  it('answers an identical resend with the byte-identical ACK and stores the message once', async () => {
    const controlId = `r17-${randomUUID()}`;
    const message = orm(controlId);

    const first = await exchange(guarded.port, message);
    const resends = [];
    for (let i = 0; i < 3; i++) resends.push(await exchange(guarded.port, message));

    expect(ackCode(first)).toBe('AA');
    expect(resends).toEqual([first, first, first]);
    expect(await ingestCount(controlId)).toBe(1);
  });

  it('treats a resend with CRLF segment separators as the same message', async () => {
    const controlId = `r17-${randomUUID()}`;
    const message = orm(controlId, { enhanced: true });

    const first = await exchange(guarded.port, message);
    const resent = await exchange(guarded.port, `${message.split('\r').join('\r\n')}\r\n`);

    expect(ackCode(first)).toBe('CA');
    expect(resent).toBe(first);
    expect(await ingestCount(controlId)).toBe(1);
  });

  it('rejects the same MSH-10 with other content (AR + ERR 205) and counts the conflict', async () => {
    const controlId = `r17-${randomUUID()}`;
    const before = await conflicts();

    const first = await exchange(guarded.port, orm(controlId, { testCode: 'CBC' }));
    const other = await exchange(guarded.port, orm(controlId, { testCode: 'K' }));

    expect(ackCode(first)).toBe('AA');
    expect(ackCode(other)).toBe('AR');
    expect(other).toContain(`MSA|AR|${controlId}`);
    expect(other).toMatch(/\rERR\|\|MSH\^1\^10\|205\^Duplicate key identifier\^HL70357\|E\|\|\|duplicate control id with different content/);
    expect(await conflicts()).toBe(before + 1);
    expect(await ingestCount(controlId)).toBe(1);
    // the original's ACK stays the answer to the original
    expect(await exchange(guarded.port, orm(controlId, { testCode: 'CBC' }))).toBe(first);
  });

  it('survives a TCP cut after the ACK was written and before it was read: one message, same ACK', async () => {
    const controlId = `r17-${randomUUID()}`;
    const message = orm(controlId);
    const key = duplicateKey(parseMsh(Buffer.from(message, 'latin1')));
    const kv = await new Kvm(nc).open(MllpAckStore.bucket(naming));
    // No 'data' listener: the socket buffers what arrives, the "application" never reads it.
    const socket = connectTcp({ host: '127.0.0.1', port: guarded.port });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.write(frame(message), () => resolve()));
    await expectEventually(() => socket.readableLength > 0, { message: 'ACK written to the client' });
    const unread = (socket.read() as Buffer | null)?.toString('latin1');
    socket.destroy();

    const resent = await exchange(guarded.port, message);

    expect(ackCode(resent)).toBe('AA');
    expect(unread).toBe(frame(resent).toString('latin1'));
    expect(await ingestCount(controlId)).toBe(1);
    const stored = await kv.get(key);
    expect(stored?.json<{ ack: string }>().ack).toBe(resent);
  });

  it('still has one effect when the resend comes after the broker dedup window', async () => {
    const controlId = `r17-${randomUUID()}`;
    const message = orm(controlId);
    const first = await exchange(guarded.port, message);

    await outlastDedupWindow();
    const resent = await exchange(guarded.port, message);

    expect(resent).toBe(first);
    expect(await ingestCount(controlId)).toBe(1);
  });

  it('confirms the record as stored after the PubAck', async () => {
    const controlId = `r17-${randomUUID()}`;
    const message = orm(controlId);
    const key = duplicateKey(parseMsh(Buffer.from(message, 'latin1')));
    const kv = await new Kvm(nc).open(MllpAckStore.bucket(naming));

    const ack = await exchange(guarded.port, message);

    // the confirm runs beside the ACK write, so it may land a moment after the ACK
    await expectEventually(async () => (await kv.get(key))?.json<StoredAck>().state === 'stored', { message: 'record confirmed' });
    expect((await kv.get(key))?.json<StoredAck>().ack).toBe(ack);
  });

  it('stores a message whose gateway died between the claim and the publish when the sender resends it', async () => {
    const controlId = `r17-${randomUUID()}`;
    const message = orm(controlId);
    const key = duplicateKey(parseMsh(Buffer.from(message, 'latin1')));
    const kv = await new Kvm(nc).open(MllpAckStore.bucket(naming));
    // what a gateway leaves behind when it dies after the claim: a pending record, nothing in INGEST
    const pending: StoredAck = { sha256: normalizedSha256(message), ack: `MSH|^~\\&|LIFELINE|LIFELINE|EHR|HOSP|20260102030405||ACK^O01^ACK|DIED-1|P|2.5.1\rMSA|AA|${controlId}`, code: 'AA', state: 'pending' };
    await kv.create(key, JSON.stringify(pending));
    expect(await ingestCount(controlId)).toBe(0);

    const resent = await exchange(guarded.port, message);

    expect(resent).toBe(pending.ack);
    expect(await ingestCount(controlId)).toBe(1);
    await expectEventually(async () => (await kv.get(key))?.json<StoredAck>().state === 'stored', { message: 'record confirmed' });
  });

  it('negative control: with detection off, a resend after the window is stored a second time', async () => {
    const controlId = `r17-${randomUUID()}`;
    const message = orm(controlId);
    const first = await exchange(unguarded.port, message);

    await outlastDedupWindow();
    const resent = await exchange(unguarded.port, message);

    expect([ackCode(first), ackCode(resent)]).toEqual(['AA', 'AA']);
    expect(resent).not.toBe(first); // a fresh ACK (new control id and time), not the original
    expect(await ingestCount(controlId)).toBe(2);
  });
});
