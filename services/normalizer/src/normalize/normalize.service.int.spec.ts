import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { DataSource } from 'typeorm';

import { DeadLetterV1, SUBJECTS, consumersOf, createNaming, isKnownType, validatePayload, withPriorityLanes, type Naming } from '@lifeline/contracts';
import { parseMsh } from '@lifeline/hl7';
import { JetStreamPublisher, connectJetStream, deleteTopology, provisionTopology, type JetStreamServer } from '@lifeline/messaging';
import { createLogger } from '@lifeline/observability';
import { createServiceDataSource, migrateUnderLock } from '@lifeline/outbox';
import { SERVICE_RUNTIME, type ServiceRuntime } from '@lifeline/service-kit';
import { createTestDatabase, expectEventually, hl7Orm, hl7Oru, testNatsUrl, uniquePrefix, type TestDatabase } from '@lifeline/testing';

import { AppModule } from '../app.module.js';
import { loadNormalizerConfig } from '../config/normalizer.config.js';
import { normalizerDatabase } from '../database.js';

// Real: nats-server (own prefix; INGEST, CLINICAL, DLQ and the normalizer's durable consumer),
// PostgreSQL (own database, the normalizer's migrations), the whole AppModule with its JetStream
// consumer and outbox relay, wired as bootstrapService does (minus HTTP and process signals).
// Raw HL7 is published to INGEST with the headers MllpIngestService writes.

const SERVICE = 'normalizer';
const CONSUMER = 'normalizer-ingest-hl7v2';
const CORPUS = new URL('../../../../../shared/corpora/hl7v2/', import.meta.url);
const ORDER_AND_RESULT_FILE = /^(ORM-O01|OML-O21|MDHHS-OML-O21|LAB-ORM|LAB-ORU|ORU-R01)-.*\.hl7$/;

interface Ingested {
  /** ce-id of the INGEST message: the events' causation id and the dead letter's messageId. */
  id: string;
  seq: number;
  idempotencyKey: string;
}

interface ClinicalEvent {
  /** Unprefixed subject: the type, or its stat lane (`stat.clinical.…`) for a stat event. */
  subject: string;
  /** ce-type: the canonical event type. */
  type: string;
  headers: Record<string, string>;
  data: Record<string, unknown>;
}

interface ParsedRow {
  outcome: string;
  error_code: string | null;
  error_field: string | null;
  event_types: string[];
}

/** Segments separated by CR, as an MLLP sender puts a file on the wire (the BOM, if any, stays). */
const wireFormat = (text: string): Buffer =>
  Buffer.from(
    text
      .split(/\r\n|\r|\n/)
      .filter((s) => s.trim() !== '')
      .join('\r'),
    'utf8',
  );

/** Empties one field of the first segment named `name` (HL7 numbering). */
function withField(message: string, name: string, n: number, value: string): string {
  return message
    .split('\r')
    .map((seg) => {
      if (!seg.startsWith(`${name}|`)) return seg;
      const fields = seg.split('|');
      fields[n] = value;
      return fields.join('|');
    })
    .join('\r');
}

describe('NormalizeService through JetStream (real nats-server + PostgreSQL, app in-process)', () => {
  const prefix = uniquePrefix('normalizer');
  const naming: Naming = createNaming(prefix);
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let db: TestDatabase;
  let ds: DataSource;
  let app: INestApplication;
  let server: JetStreamServer;
  let runtime: ServiceRuntime;
  let publisher: JetStreamPublisher;

  /** Publishes raw HL7 to INGEST exactly as MllpIngestService does (its headers, its msg id). */
  async function ingest(raw: Buffer, opts: { idempotencyKey?: string; msgId?: string } = {}): Promise<Ingested> {
    const msh = parseMsh(raw);
    const id = randomUUID();
    const idempotencyKey = opts.idempotencyKey ?? `hl7v2|${msh.sendingApplication}|${msh.sendingFacility}|${msh.controlId}`;
    const ack = await publisher.publishRaw({
      subject: SUBJECTS.ingest.hl7v2,
      headers: {
        'ce-id': id,
        'ce-type': SUBJECTS.ingest.hl7v2,
        'ce-source': `mllp://${msh.sendingApplication}/${msh.sendingFacility}`,
        'ce-time': new Date().toISOString(),
        'ce-specversion': '1.0',
        'lifeline-correlation-id': id,
        'lifeline-idempotency-key': idempotencyKey,
        'ce-datacontenttype': 'application/hl7-v2+er7',
        'lifeline-hl7-message-type': msh.messageType,
        'lifeline-hl7-control-id': msh.controlId,
        'lifeline-hl7-sending-application': msh.sendingApplication,
        'lifeline-hl7-sending-facility': msh.sendingFacility,
        'lifeline-hl7-sha256': createHash('sha256').update(raw).digest('hex'),
        'lifeline-remote-address': '127.0.0.1',
      },
      body: raw,
      msgId: opts.msgId ?? `${msh.sendingApplication}|${msh.sendingFacility}|${msh.controlId}`,
      expectStream: 'INGEST',
    });
    return { id, seq: ack.seq, idempotencyKey };
  }

  /** The events in CLINICAL and its stat twin CLINICAL_STAT, routine first. */
  async function clinicalEvents(): Promise<ClinicalEvent[]> {
    const out: ClinicalEvent[] = [];
    for (const stream of [naming.stream('CLINICAL'), naming.stream('CLINICAL_STAT')]) {
      const { state } = await jsm.streams.info(stream);
      if (state.messages === 0) continue;
      for (let seq = state.first_seq; seq <= state.last_seq; seq += 1) {
        const m = await jsm.streams.getMessage(stream, { seq });
        if (m === null) continue;
        const headers: Record<string, string> = {};
        for (const k of m.header.keys()) headers[k] = m.header.get(k);
        out.push({ subject: naming.unprefix(m.subject), type: headers['ce-type'] ?? '', headers, data: m.json<Record<string, unknown>>() });
      }
    }
    return out;
  }

  const eventsCausedBy = async (ingestId: string): Promise<ClinicalEvent[]> =>
    (await clinicalEvents()).filter((e) => e.headers['lifeline-causation-id'] === ingestId);

  /** Waits until the normalizer caused exactly `count` events from this INGEST message. */
  const awaitEvents = (ingestId: string, count: number): Promise<ClinicalEvent[]> =>
    expectEventually(
      async () => {
        const events = await eventsCausedBy(ingestId);
        expect(events).toHaveLength(count);
        return events;
      },
      { message: `${count} canonical event(s) on CLINICAL` },
    );

  /** Every dead letter in this prefix's DLQ (read by sequence: listDeadLetters waits out a fetch). */
  async function deadLetters(): Promise<Array<{ subject: string; record: DeadLetterV1 }>> {
    const stream = naming.stream('DLQ');
    const { state } = await jsm.streams.info(stream);
    const out: Array<{ subject: string; record: DeadLetterV1 }> = [];
    if (state.messages === 0) return out;
    for (let seq = state.first_seq; seq <= state.last_seq; seq += 1) {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (m !== null) out.push({ subject: naming.unprefix(m.subject), record: DeadLetterV1.parse(m.json()) });
    }
    return out;
  }

  const deadLettersOf = async (ingestId: string): Promise<Array<{ subject: string; record: DeadLetterV1 }>> =>
    (await deadLetters()).filter((l) => l.record.messageId === ingestId);

  async function parsedRow(idempotencyKey: string): Promise<ParsedRow | undefined> {
    const rows: ParsedRow[] = await ds.query('SELECT outcome, error_code, error_field, event_types FROM parsed_messages WHERE idempotency_key = $1', [idempotencyKey]);
    return rows[0];
  }

  async function consumerState(): Promise<{ pending: number; ackPending: number; deliveries: number; ackFloor: number }> {
    const info = await jsm.consumers.info(naming.stream('INGEST'), naming.durable(CONSUMER));
    return { pending: info.num_pending, ackPending: info.num_ack_pending, deliveries: info.delivered.consumer_seq, ackFloor: info.ack_floor.stream_seq };
  }

  /** Every INGEST message up to `seq` settled (acked or termed) and every outbox row published. */
  async function settled(seq: number): Promise<{ deliveries: number }> {
    return expectEventually(
      async () => {
        const state = await consumerState();
        expect(state).toMatchObject({ pending: 0, ackPending: 0 });
        expect(state.ackFloor).toBeGreaterThanOrEqual(seq);
        const unsent: Array<{ n: string }> = await ds.query('SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL');
        expect(Number(unsent[0]?.n)).toBe(0);
        return { deliveries: state.deliveries };
      },
      { message: 'normalizer consumer and outbox settled' },
    );
  }

  const lastIngestSeq = async (): Promise<number> => (await jsm.streams.info(naming.stream('INGEST'))).state.last_seq;

  beforeAll(async () => {
    nc = await connect({ servers: testNatsUrl() });
    jsm = await jetstreamManager(nc);
    await provisionTopology({ nc, naming, consumers: withPriorityLanes(consumersOf(SERVICE)) });
    publisher = new JetStreamPublisher(nc, naming);
    db = await createTestDatabase('normalizer');
    const config = loadNormalizerConfig({
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      DATABASE_POOL_SIZE: '4',
      NATS_URL: testNatsUrl(),
      NATS_PREFIX: prefix,
      HTTP_PORT: '0',
      LOG_LEVEL: 'silent',
      PATIENT_KEY_SECRET: 'normalizer-int-test-secret',
    });
    ds = createServiceDataSource({ service: SERVICE, url: db.url, migrations: normalizerDatabase(config).migrations, poolSize: 2 });
    await ds.initialize();
    await migrateUnderLock(ds, SERVICE);
    const logger = createLogger({ service: SERVICE, level: 'silent' });
    app = await NestFactory.create(AppModule.forRoot(config, logger), { logger: false, abortOnError: false });
    // bootstrapService's order: relay, JetStream consumers, then the app (HTTP is not needed here)
    runtime = app.get<ServiceRuntime>(SERVICE_RUNTIME);
    await runtime.relay?.start();
    server = await connectJetStream(app);
    await app.init();
  }, 30_000);

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

  describe('mapped messages', () => {
    it('turns an ORM into a transport record, a mapped outcome and one valid clinical.order.placed.v1 keyed by the mapper', async () => {
      const placer = `PLC-${randomUUID().slice(0, 8)}`;
      const text = hl7Orm({ controlId: `ORM-${placer}`, placerOrderNumber: placer, patientId: 'MRN-INT-1', priority: 'S' });
      const raw = Buffer.from(text, 'utf8');

      const sent = await ingest(raw);
      const [event] = (await awaitEvents(sent.id, 1)) as [ClinicalEvent];

      expect(event.type).toBe(SUBJECTS.clinical.orderPlaced);
      expect(validatePayload(SUBJECTS.clinical.orderPlaced, event.data)).toMatchObject({ ok: true });
      expect(event.headers).toMatchObject({
        'ce-source': 'lifeline/normalizer',
        'lifeline-idempotency-key': `LIFELINE|LIFELINE:${placer}|${SUBJECTS.clinical.orderPlaced}`,
        'lifeline-correlation-id': sent.id,
        'lifeline-priority': 'stat',
      });
      expect(event.data).toMatchObject({
        orderId: `LIFELINE:${placer}`,
        placerOrderNumber: placer,
        messageType: 'ORM^O01',
        sourceMessageId: sent.id,
        priority: 'stat',
        patient: { identifier: 'MRN-INT-1', assigningAuthority: 'HOSP' },
        tests: [{ code: 'CBC' }],
      });
      expect(event.headers['lifeline-patient-key']).toBe((event.data.patient as { key: string }).key);

      const transport: Array<Record<string, unknown>> = await ds.query(
        'SELECT ingest_message_id, ingest_sequence, control_id, message_type, sha256, raw FROM transport_records WHERE idempotency_key = $1',
        [sent.idempotencyKey],
      );
      expect(transport).toEqual([
        {
          ingest_message_id: sent.id,
          ingest_sequence: String(sent.seq),
          control_id: `ORM-${placer}`,
          message_type: 'ORM^O01',
          sha256: createHash('sha256').update(raw).digest('hex'),
          raw: text,
        },
      ]);
      expect(await parsedRow(sent.idempotencyKey)).toEqual({ outcome: 'mapped', error_code: null, error_field: null, event_types: [SUBJECTS.clinical.orderPlaced] });
    });

    it('maps ORC-1 = CA to clinical.order.cancel-requested.v1', async () => {
      const placer = `PLC-${randomUUID().slice(0, 8)}`;
      const sent = await ingest(Buffer.from(hl7Orm({ controlId: `CA-${placer}`, placerOrderNumber: placer, patientId: 'MRN-INT-2', orderControl: 'CA' })));

      const [event] = (await awaitEvents(sent.id, 1)) as [ClinicalEvent];

      expect(event.type).toBe(SUBJECTS.clinical.orderCancelRequested);
      expect(validatePayload(SUBJECTS.clinical.orderCancelRequested, event.data)).toMatchObject({ ok: true });
      expect(event.headers['lifeline-idempotency-key']).toBe(`LIFELINE|LIFELINE:${placer}|${SUBJECTS.clinical.orderCancelRequested}`);
      expect(event.data).toMatchObject({ orderId: `LIFELINE:${placer}`, sourceMessageId: sent.id, patient: { identifier: 'MRN-INT-2' } });
      expect(await parsedRow(sent.idempotencyKey)).toMatchObject({ outcome: 'mapped', event_types: [SUBJECTS.clinical.orderCancelRequested] });
    });

    it('maps an ORU with two OBX to one clinical.result.received.v1 carrying units, ranges and flags', async () => {
      const placer = `PLC-${randomUUID().slice(0, 8)}`;
      const sent = await ingest(
        Buffer.from(
          hl7Oru({
            controlId: `ORU-${placer}`,
            placerOrderNumber: placer,
            patientId: 'MRN-INT-3',
            testCode: 'BMP',
            observations: [
              { code: 'K', value: 6.8, units: 'mmol/L', range: '3.5-5.1', flags: 'HH' },
              { code: 'HGB', value: '13.5', units: 'g/dL', range: '12.0-16.0' },
            ],
          }),
        ),
      );

      const [event] = (await awaitEvents(sent.id, 1)) as [ClinicalEvent];

      expect(event.type).toBe(SUBJECTS.clinical.resultReceived);
      expect(validatePayload(SUBJECTS.clinical.resultReceived, event.data)).toMatchObject({ ok: true });
      expect(event.headers['lifeline-idempotency-key']).toMatch(new RegExp(`^LIFELINE\\|LIFELINE:${placer}\\|${SUBJECTS.clinical.resultReceived}\\|F:[0-9a-f]{16}$`));
      // HH is a critical flag: the result travels as stat
      expect(event.headers['lifeline-priority']).toBe('stat');
      expect(event.data).toMatchObject({
        orderId: `LIFELINE:${placer}`,
        resultStatus: 'F',
        sourceMessageId: sent.id,
        observations: [
          { code: { code: 'K' }, valueType: 'NM', numericValue: 6.8, units: 'mmol/L', referenceRange: '3.5-5.1', abnormalFlags: ['HH'] },
          { code: { code: 'HGB' }, valueType: 'NM', numericValue: 13.5, units: 'g/dL', referenceRange: '12.0-16.0', abnormalFlags: [] },
        ],
      });
      expect(await parsedRow(sent.idempotencyKey)).toMatchObject({ outcome: 'mapped', event_types: [SUBJECTS.clinical.resultReceived] });
    });
  });

  it('publishes one canonical event when the same ORM is delivered twice (other Nats-Msg-Id, same idempotency key)', async () => {
    const placer = `PLC-${randomUUID().slice(0, 8)}`;
    const raw = Buffer.from(hl7Orm({ controlId: `DUP-${placer}`, placerOrderNumber: placer, patientId: 'MRN-INT-4' }));
    const orderId = `LIFELINE:${placer}`;

    // a second msg id gets past the broker's duplicate window, as a replay or a late resend would
    const first = await ingest(raw, { msgId: `dup-${placer}-a` });
    const second = await ingest(raw, { msgId: `dup-${placer}-b` });
    expect(second.seq).toBeGreaterThan(first.seq);
    expect(second.idempotencyKey).toBe(first.idempotencyKey);
    await settled(second.seq);

    const events = (await clinicalEvents()).filter((e) => e.data.orderId === orderId);
    expect(events.map((e) => e.type)).toEqual([SUBJECTS.clinical.orderPlaced]);
    const outbox: Array<{ n: string }> = await ds.query('SELECT count(*) AS n FROM outbox WHERE aggregate_id = $1', [orderId]);
    expect(Number(outbox[0]?.n)).toBe(1);
    const inbox: Array<{ n: string }> = await ds.query('SELECT count(*) AS n FROM inbox WHERE consumer = $1 AND message_id = $2', [naming.durable(CONSUMER), first.idempotencyKey]);
    expect(Number(inbox[0]?.n)).toBe(1);
  });

  describe('refused messages', () => {
    async function expectRefusedAndDeadLetteredOnce(raw: Buffer, refusal: { code: string; field: string }): Promise<void> {
      const before = await settled(await lastIngestSeq());

      const sent = await ingest(raw);
      const [letter] = await expectEventually(
        async () => {
          const letters = await deadLettersOf(sent.id);
          expect(letters).toHaveLength(1);
          return letters;
        },
        { message: 'one dead letter' },
      );
      const after = await settled(sent.seq);

      expect(letter?.subject).toBe(`dlq.${SERVICE}.${CONSUMER}`);
      expect(letter?.record).toMatchObject({
        originalStream: naming.stream('INGEST'),
        originalSequence: sent.seq,
        consumer: CONSUMER,
        service: SERVICE,
        idempotencyKey: sent.idempotencyKey,
        error: { code: refusal.code, class: 'permanent', reason: 'permanent' },
      });
      expect(Buffer.from(letter?.record.payloadBase64 ?? '', 'base64').equals(raw)).toBe(true);
      // not retried: one delivery, one attempt
      expect(letter?.record.attempts.map((a) => a.deliveryCount)).toEqual([1]);
      expect(after.deliveries - before.deliveries).toBe(1);
      expect(await parsedRow(sent.idempotencyKey)).toEqual({ outcome: 'refused', error_code: refusal.code, error_field: refusal.field, event_types: [] });
      const transport: Array<{ raw: string }> = await ds.query('SELECT raw FROM transport_records WHERE idempotency_key = $1', [sent.idempotencyKey]);
      expect(transport.map((t) => t.raw)).toEqual([raw.toString('utf8')]);
      expect(await eventsCausedBy(sent.id)).toEqual([]);
    }

    it('records an unsupported type (ADT^A01) as refused and dead-letters it once, permanent, not retried', async () => {
      const raw = wireFormat(readFileSync(new URL('ADT-A01-01.hl7', CORPUS), 'utf8'));
      expect(parseMsh(raw).messageType).toBe('ADT^A01');

      await expectRefusedAndDeadLetteredOnce(raw, { code: 'HL7_UNSUPPORTED_MESSAGE_TYPE', field: 'MSH-9' });
    });

    it('records an ORM without PID-3 as refused (HL7_REQUIRED_FIELD_MISSING, PID-3) and dead-letters it once', async () => {
      const placer = `PLC-${randomUUID().slice(0, 8)}`;
      const text = withField(hl7Orm({ controlId: `NOPID-${placer}`, placerOrderNumber: placer, patientId: 'MRN-INT-5' }), 'PID', 3, '');
      expect(text).not.toContain('MRN-INT-5');

      await expectRefusedAndDeadLetteredOnce(Buffer.from(text, 'utf8'), { code: 'HL7_REQUIRED_FIELD_MISSING', field: 'PID-3' });
    });
  });

  it('ends every ORM/OML/ORU corpus file in canonical events or a dead letter: nothing silently dropped', async () => {
    const files = readdirSync(CORPUS).filter((f) => ORDER_AND_RESULT_FILE.test(f)).sort();
    expect(files.length).toBeGreaterThan(0);
    // Several corpus files reuse MSH-10 (MSG00018), which a real sender never does (the gateway would
    // answer AR, R17). Here each file is its own message: its own idempotency key and Nats-Msg-Id.
    const sent: Array<{ file: string } & Ingested> = [];
    for (const file of files) {
      const raw = wireFormat(readFileSync(new URL(file, CORPUS), 'utf8'));
      const msh = parseMsh(raw);
      const key = `hl7v2|${msh.sendingApplication}|${msh.sendingFacility}|${msh.controlId}|${prefix}-${file}`;
      sent.push({ file, ...(await ingest(raw, { idempotencyKey: key, msgId: `${prefix}-${file}` })) });
    }
    await settled(Math.max(...sent.map((s) => s.seq)));

    const fates: Record<string, string> = {};
    for (const s of sent) {
      const row = await parsedRow(s.idempotencyKey);
      const events = await eventsCausedBy(s.id);
      const letters = await deadLettersOf(s.id);
      if (row?.outcome === 'mapped' && events.length > 0 && events.length === row.event_types.length && letters.length === 0) {
        expect(events.map((e) => e.type)).toEqual(row.event_types);
        for (const e of events) expect(isKnownType(e.type) && validatePayload(e.type, e.data).ok).toBe(true);
        fates[s.file] = 'events';
      } else if ((row?.outcome === 'refused' || row?.outcome === 'unparseable') && letters.length === 1 && events.length === 0) {
        expect(letters[0]?.record.error.code).toBe(row.error_code);
        fates[s.file] = 'dead-letter';
      } else {
        fates[s.file] = `lost (outcome ${row?.outcome ?? 'none'}, ${events.length} events, ${letters.length} letters)`;
      }
    }

    expect(Object.entries(fates).filter(([, fate]) => fate !== 'events' && fate !== 'dead-letter')).toEqual([]);
    const mapped = Object.values(fates).filter((f) => f === 'events').length;
    const refused = Object.values(fates).filter((f) => f === 'dead-letter').length;
    expect(mapped + refused).toBe(files.length);
    expect(mapped).toBeGreaterThan(0);
  });
});
