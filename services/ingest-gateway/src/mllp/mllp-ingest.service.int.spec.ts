import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect as connectTcp } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { jetstreamManager, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Logger as PinoNestLogger } from 'nestjs-pino';
import { pino } from 'pino';

import { createNaming, type Naming } from '@lifeline/contracts';
import { MllpClient, parseHl7, type MllpServer } from '@lifeline/hl7';
import { deleteTopology, provisionTopology } from '@lifeline/messaging';
import { loggerOptions } from '@lifeline/observability';
import { hl7Orm, testNatsUrl, uniquePrefix } from '@lifeline/testing';

import { AppModule } from '../app.module.js';
import { loadIngestGatewayConfig } from '../config/ingest-gateway.config.js';
import { MllpAckStore } from './mllp-ack.store.js';
import { MllpIngestService } from './mllp-ingest.service.js';
import { startMllpListener } from './mllp-listener.util.js';

// Real: nats-server (JetStream + KV, own prefix), the gateway's AppModule and MLLP listener in-process
// (wired by startMllpListener, as main.ts does), TCP clients. Nothing consumes INGEST here, so the
// stream holds exactly what the gateway stored. The gateway logs into memory, for the PHI check.
const IDLE_TIMEOUT_MS = 1_000;
const MAX_FRAME_BYTES = 2_048;
const FACILITY = 'HOSP-INT';
const CANARY_NAME = 'CANARY^PHI';
const CANARY_MRN = 'MRN-CANARY-123';

interface ParsedAck {
  raw: string;
  /** MSA-1 */
  code: string;
  /** MSA-2 */
  controlId: string;
  /** ERR-3.1 (HL7 table 0357) and ERR-2 (location), when there is an ERR segment. */
  err?: { code: string; location: string };
}

function readAck(payload: Buffer): ParsedAck {
  const raw = payload.toString('utf8');
  const msg = parseHl7(raw);
  const msa = msg.get('MSA');
  const err = msg.get('ERR');
  return {
    raw,
    code: msa?.value(1) ?? '',
    controlId: msa?.value(2) ?? '',
    err: err === undefined ? undefined : { code: err.value(3, 1, 1), location: err.raw(2) },
  };
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

function orm(opts: { enhanced?: boolean; patientId?: string } = {}): { controlId: string; text: string; bytes: Buffer } {
  const controlId = `int-${randomUUID().slice(0, 18)}`;
  const text = hl7Orm({
    controlId,
    placerOrderNumber: `PLC-${controlId.slice(-6)}`,
    patientId: opts.patientId ?? 'MRN-INT-1',
    sendingFacility: FACILITY,
    enhanced: opts.enhanced,
  });
  return { controlId, text, bytes: Buffer.from(text, 'utf8') };
}

/** Replaces one MSH field (HL7 numbering: MSH-n is index n-1 after splitting on '|'). */
function withMshField(message: string, n: number, value: string): string {
  const [msh = '', ...rest] = message.split('\r');
  const fields = msh.split('|');
  fields[n - 1] = value;
  return [fields.join('|'), ...rest].join('\r');
}

describe('MllpIngestService over MLLP (real nats-server, gateway in-process)', () => {
  const prefix = uniquePrefix('mllp-ingest');
  const naming: Naming = createNaming(prefix);
  const logLines: string[] = [];
  const logger = pino(loggerOptions({ service: 'ingest-gateway', level: 'trace' }), {
    write: (line: string) => {
      logLines.push(line);
    },
  });
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let app: INestApplication;
  let server: MllpServer;
  let port: number;
  const clients: MllpClient[] = [];

  const provision = (): Promise<unknown> => provisionTopology({ nc, naming, consumers: [] });

  async function client(): Promise<MllpClient> {
    const c = new MllpClient({ timeoutMs: 10_000 });
    await c.connect('127.0.0.1', port);
    clients.push(c);
    return c;
  }

  /** One message on a fresh connection, exactly these bytes; resolves with the parsed ACK. */
  async function exchange(payload: Buffer | string): Promise<ParsedAck> {
    const c = await client();
    try {
      return readAck(await c.send(payload));
    } finally {
      await c.close();
    }
  }

  async function ingestInfo(): Promise<{ first: number; last: number; messages: number }> {
    const { state } = await jsm.streams.info(naming.stream('INGEST'));
    return { first: state.first_seq, last: state.last_seq, messages: state.messages };
  }

  async function ingestAll(): Promise<StoredMsg[]> {
    const { first, last, messages } = await ingestInfo();
    const out: StoredMsg[] = [];
    if (messages === 0) return out;
    for (let seq = first; seq <= last; seq += 1) {
      const m = await jsm.streams.getMessage(naming.stream('INGEST'), { seq });
      if (m !== null) out.push(m);
    }
    return out;
  }

  const storedFor = async (controlId: string): Promise<StoredMsg[]> =>
    (await ingestAll()).filter((m) => m.header.get('lifeline-hl7-control-id') === controlId);

  beforeAll(async () => {
    nc = await connect({ servers: testNatsUrl() });
    jsm = await jetstreamManager(nc);
    await provision();
    const config = loadIngestGatewayConfig({
      NODE_ENV: 'test',
      NATS_URL: testNatsUrl(),
      NATS_PREFIX: prefix,
      HTTP_PORT: '0',
      MLLP_PORT: '0',
      MLLP_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
      MLLP_MAX_FRAME_BYTES: String(MAX_FRAME_BYTES),
      LOG_LEVEL: 'silent',
    });
    // As bootstrapService does: Nest's own log lines go through the same pino logger.
    app = await NestFactory.create(AppModule.forRoot(config, logger), { bufferLogs: true, abortOnError: false });
    app.useLogger(app.get(PinoNestLogger));
    await app.init();
    ({ server, port } = await startMllpListener({ config, ingest: app.get(MllpIngestService), logger }));
  }, 30_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server?.close();
    await app?.close();
    if (nc) {
      await (await new Kvm(nc).open(MllpAckStore.bucket(naming))).destroy().catch(() => undefined);
      await deleteTopology({ nc, naming });
      await nc.close();
    }
  });

  it('answers AA (MSA-2 = MSH-10) only with the raw bytes stored once in INGEST with the gateway headers', async () => {
    const m = orm();

    const ack = await exchange(m.bytes);

    expect(ack).toMatchObject({ code: 'AA', controlId: m.controlId, err: undefined });
    const stored = await storedFor(m.controlId);
    expect(stored).toHaveLength(1);
    const [msg] = stored as [StoredMsg];
    expect(Buffer.from(msg.data).equals(m.bytes)).toBe(true);
    expect(msg.subject).toBe(naming.subject('ingest.hl7v2.v1'));
    expect(msg.header.get('Nats-Msg-Id')).toBe(`EHR|${FACILITY}|${m.controlId}`);
    expect(msg.header.get('ce-type')).toBe('ingest.hl7v2.v1');
    expect(msg.header.get('lifeline-hl7-sha256')).toBe(sha256(m.bytes));
    expect(msg.header.get('lifeline-hl7-message-type')).toBe('ORM^O01');
    expect(msg.header.get('ce-datacontenttype')).toBe('application/hl7-v2+er7');
  });

  it('answers CA in enhanced mode (MSH-15 = AL) once stored', async () => {
    const m = orm({ enhanced: true });

    const ack = await exchange(m.bytes);

    expect(ack).toMatchObject({ code: 'CA', controlId: m.controlId, err: undefined });
    expect(await storedFor(m.controlId)).toHaveLength(1);
  });

  it('answers AA to a resend within the duplicate window and keeps one message in INGEST', async () => {
    const m = orm();

    const first = await exchange(m.bytes);
    const resend = await exchange(m.bytes);

    expect([first.code, resend.code]).toEqual(['AA', 'AA']);
    expect(resend.controlId).toBe(m.controlId);
    expect(await storedFor(m.controlId)).toHaveLength(1);
  });

  it('stores both messages when two sending applications of one facility use the same MSH-10', async () => {
    // RELIABILITY.md §6: MSH-10 is unique per sending application (MSH-3), not per facility
    const controlId = `shared-${randomUUID().slice(0, 12)}`;
    const fromEhr = hl7Orm({ controlId, placerOrderNumber: 'PLC-EHR', patientId: 'MRN-INT-2', sendingApp: 'EHR', sendingFacility: FACILITY });
    const fromRis = hl7Orm({ controlId, placerOrderNumber: 'PLC-RIS', patientId: 'MRN-INT-3', sendingApp: 'RIS', sendingFacility: FACILITY });

    const acks = [await exchange(fromEhr), await exchange(fromRis)];

    expect(acks.map((a) => a.code)).toEqual(['AA', 'AA']);
    const stored = await storedFor(controlId);
    expect(stored.map((m) => m.header.get('lifeline-hl7-sending-application')).sort()).toEqual(['EHR', 'RIS']);
    expect(stored.map((m) => Buffer.from(m.data).toString('utf8')).sort()).toEqual([fromEhr, fromRis].sort());
  });

  it('rejects an unreadable MSH or a bad MSH-11 with AR/CR + ERR, stores nothing, and keeps serving the connection', async () => {
    const good = orm();
    const noControlId = withMshField(orm().text, 10, '');
    const badProcessingId = orm({ enhanced: true });
    const before = await ingestInfo();
    const c = await client();

    const notHl7 = readAck(await c.send('XYZ|^~\\&|EHR|HOSP\rPID|1||X'));
    const missing = readAck(await c.send(noControlId));
    const processing = readAck(await c.send(withMshField(badProcessingId.text, 11, 'X')));
    const after = readAck(await c.send(good.bytes));

    expect(notHl7).toMatchObject({ code: 'AR', controlId: '' });
    expect(notHl7.err?.code).toBe('101');
    expect(missing).toMatchObject({ code: 'AR', controlId: '', err: { code: '101', location: 'MSH^1^10' } });
    expect(processing).toMatchObject({ code: 'CR', controlId: badProcessingId.controlId, err: { code: '202', location: 'MSH^1^11' } });
    expect(after).toMatchObject({ code: 'AA', controlId: good.controlId });
    // exactly one message more in INGEST: the good one
    const stored = (await ingestAll()).filter((msg) => msg.seq > before.last);
    expect(stored.map((msg) => msg.header.get('lifeline-hl7-control-id'))).toEqual([good.controlId]);
  });

  it('answers AE/CE with ERR 207 while INGEST is gone, never AA/CA, and AA to the retry once it is back', async () => {
    const original = orm();
    const enhanced = orm({ enhanced: true });
    await jsm.streams.delete(naming.stream('INGEST'));
    const whileMissing: ParsedAck[] = [];
    try {
      whileMissing.push(await exchange(original.bytes));
      whileMissing.push(await exchange(enhanced.bytes));
      // the sender retries before the store is back: still not accepted (an AE is never replayed as AA)
      whileMissing.push(await exchange(original.bytes));
    } finally {
      await provision();
    }

    expect(whileMissing.map((a) => a.code)).toEqual(['AE', 'CE', 'AE']);
    expect(whileMissing.map((a) => a.err?.code)).toEqual(['207', '207', '207']);
    expect(whileMissing.map((a) => a.controlId)).toEqual([original.controlId, enhanced.controlId, original.controlId]);

    const retried = await exchange(original.bytes);
    const retriedEnhanced = await exchange(enhanced.bytes);

    expect(retried).toMatchObject({ code: 'AA', controlId: original.controlId, err: undefined });
    expect(retriedEnhanced).toMatchObject({ code: 'CA', controlId: enhanced.controlId, err: undefined });
    expect(await storedFor(original.controlId)).toHaveLength(1);
    expect(await storedFor(enhanced.controlId)).toHaveLength(1);
  });

  it(`rejects a frame over MLLP_MAX_FRAME_BYTES (${MAX_FRAME_BYTES}) with AR and keeps the connection usable`, async () => {
    const big = orm();
    const oversized = `${big.text}\rNTE|1||${'X'.repeat(4_096)}`;
    const good = orm();
    const c = await client();

    const rejected = readAck(await c.send(oversized));
    const after = readAck(await c.send(good.bytes));

    expect(Buffer.byteLength(oversized)).toBeGreaterThan(4_096);
    // the header was never parsed: no MSA-2 to echo
    expect(rejected).toMatchObject({ code: 'AR', controlId: '', err: { code: '207' } });
    expect(after).toMatchObject({ code: 'AA', controlId: good.controlId });
    expect(c.connected).toBe(true);
    expect(await storedFor(big.controlId)).toHaveLength(0);
  });

  it(`closes a connection idle for MLLP_IDLE_TIMEOUT_MS (${IDLE_TIMEOUT_MS} ms)`, async () => {
    const socket = connectTcp({ host: '127.0.0.1', port });
    const closed = once(socket, 'close');
    await once(socket, 'connect');
    const opened = Date.now();
    let guard: NodeJS.Timeout | undefined;
    const stillOpen = new Promise<never>((_, reject) => {
      guard = setTimeout(() => reject(new Error('the gateway kept the idle connection open')), IDLE_TIMEOUT_MS * 5);
    });

    try {
      await Promise.race([closed, stillOpen]);
    } finally {
      clearTimeout(guard);
      socket.destroy();
    }

    const idleMs = Date.now() - opened;
    // closed by the idle timer, not at once (timer granularity aside)
    expect(idleMs).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 50);
  });

  it('never writes the patient name or identifier to a log line, on any answer path', async () => {
    const firstLine = logLines.length;
    const canary = (message: string): string => message.replace('CANARY^TEST', CANARY_NAME);
    const accepted = orm({ patientId: CANARY_MRN });
    const acceptedText = canary(accepted.text);
    expect(acceptedText).toContain(`|${CANARY_NAME}|`);
    expect(acceptedText).toContain(CANARY_MRN);
    const storeDown = orm({ patientId: CANARY_MRN });

    const answers = [
      await exchange(acceptedText),
      await exchange(acceptedText), // resend: replayed ACK
      await exchange(acceptedText.replace('CBC^', 'K^')), // same MSH-10, other content: conflict
      await exchange(canary(withMshField(orm({ patientId: CANARY_MRN }).text, 10, ''))),
      await exchange(canary(withMshField(orm({ patientId: CANARY_MRN }).text, 11, 'X'))),
      await exchange(`${canary(orm({ patientId: CANARY_MRN }).text)}\rNTE|1||${CANARY_NAME} ${'X'.repeat(4_096)}`),
    ];
    await jsm.streams.delete(naming.stream('INGEST'));
    try {
      answers.push(await exchange(canary(storeDown.text)));
    } finally {
      await provision();
    }

    expect(answers.map((a) => a.code)).toEqual(['AA', 'AA', 'AR', 'AR', 'AR', 'AR', 'AE']);
    const lines = logLines.slice(firstLine);
    // positive control: the paths above did log (by control id, type and hash)
    expect(lines.some((l) => l.includes('HL7 message stored') && l.includes(accepted.controlId))).toBe(true);
    expect(lines.some((l) => l.includes('MLLP frame rejected: unreadable MSH'))).toBe(true);
    expect(lines.some((l) => l.includes('INGEST publish failed') && l.includes(storeDown.controlId))).toBe(true);
    for (const line of lines) {
      expect(line).not.toContain(CANARY_NAME);
      expect(line).not.toContain(CANARY_MRN);
    }
  });
});
