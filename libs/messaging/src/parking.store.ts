import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Gauge } from 'prom-client';

import { DeadLetterV1, HEADERS, type Naming } from '@lifeline/contracts';
import { registry, type Logger } from '@lifeline/observability';

import { JetStreamPublisher } from './jetstream.publisher.js';
import { KvMirror } from './kv-mirror.js';

/** A patient parked on one consumer: its dead-lettered head and the state of an operator's release. */
export interface ParkedEntry {
  consumer: string;
  patientKey: string;
  status: 'parked' | 'releasing';
  /** ce-id of the head: on release, the re-published copy with this id is let through first. */
  headMessageId: string;
  headStream: string;
  headSeq: number;
  /** Sequence of its dead letter in the DLQ stream (what release re-publishes from). */
  dlqSeq: number;
  code: string;
  parkedAt: string;
  releasedAt?: string;
}

export const PARKING_METRICS = {
  parkedPatients: new Gauge({
    name: 'parked_patients',
    help: 'Patients whose later messages are held behind a dead-lettered head, per consumer',
    labelNames: ['consumer'] as const,
    registers: [registry],
  }),
  parkedMessages: new Gauge({
    name: 'parked_messages',
    help: 'Messages held behind parked patients (seen by this process in the last hold window), per consumer',
    labelNames: ['consumer'] as const,
    registers: [registry],
  }),
};

/**
 * Parked patients in a JetStream KV bucket (the transport has no database), mirrored in memory by a
 * watch so the per-message check costs no round trip; every replica sees parks and releases.
 * Key: `<durable>.<patient key>` (patient keys are hashes, never identifiers).
 */
export class ParkingStore {
  private readonly mirror: KvMirror<ParkedEntry>;
  private readonly held = new Map<string, Map<string, number>>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    logger: Logger,
  ) {
    this.mirror = new KvMirror<ParkedEntry>(nc, logger, {
      bucket: ParkingStore.bucket(naming),
      description: 'parked patients per consumer',
      onChange: () => this.refreshGauges(),
    });
  }

  static bucket(naming: Naming): string {
    return naming.kvBucket('PARKED');
  }

  static key(consumer: string, patientKey: string): string {
    return `${consumer}.${patientKey.replace(/[^-\w=]/g, '_')}`;
  }

  open(): Promise<void> {
    return this.mirror.open();
  }

  close(): void {
    this.mirror.close();
  }

  get(consumer: string, patientKey: string): ParkedEntry | undefined {
    return this.mirror.get(ParkingStore.key(consumer, patientKey));
  }

  list(consumers?: readonly string[]): ParkedEntry[] {
    return [...this.mirror.all()].filter((e) => !consumers || consumers.includes(e.consumer));
  }

  /** Written after the dead letter's PubAck and before the term: no later message slips past the head. */
  async park(entry: Omit<ParkedEntry, 'status' | 'parkedAt'>): Promise<void> {
    const value: ParkedEntry = { ...entry, status: 'parked', parkedAt: new Date().toISOString() };
    await this.mirror.put(ParkingStore.key(entry.consumer, entry.patientKey), value);
  }

  async unpark(consumer: string, patientKey: string): Promise<void> {
    const key = ParkingStore.key(consumer, patientKey);
    this.held.delete(key);
    await this.mirror.purge(key);
  }

  /**
   * Release: the operator fixed the cause. The head is re-published from its dead letter (same ce-id,
   * a new Nats-Msg-Id so the broker does not drop it as a duplicate); the patient stays parked except
   * for that copy, and is unparked when it is handled, so the held messages follow it in order.
   */
  async release(consumer: string, patientKey: string): Promise<ParkedEntry | undefined> {
    const entry = this.get(consumer, patientKey);
    if (!entry) return undefined;
    const jsm = await jetstreamManager(this.nc);
    const stored = await jsm.streams.getMessage(this.naming.stream('DLQ'), { seq: entry.dlqSeq });
    if (!stored) throw new Error(`dead letter ${entry.dlqSeq} is gone from the DLQ`);
    const letter = DeadLetterV1.parse(stored.json());
    const releasing: ParkedEntry = { ...entry, status: 'releasing', releasedAt: new Date().toISOString() };
    await this.mirror.put(ParkingStore.key(consumer, patientKey), releasing);
    const headers = { ...letter.headers };
    delete headers[HEADERS.msgId];
    await new JetStreamPublisher(this.nc, this.naming).publishRaw({
      subject: letter.originalSubject,
      headers,
      body: Buffer.from(letter.payloadBase64, 'base64'),
      msgId: `${entry.headMessageId}:release:${releasing.releasedAt}`,
    });
    return releasing;
  }

  /** Discard: the head stays in the DLQ (nothing is deleted); the held messages flow again. */
  async discard(consumer: string, patientKey: string): Promise<ParkedEntry | undefined> {
    const entry = this.get(consumer, patientKey);
    if (!entry) return undefined;
    await this.unpark(consumer, patientKey);
    return entry;
  }

  /** Counts a message held behind a parked patient (metric only). */
  noteHeld(consumer: string, patientKey: string, seq: number, untilMs: number): void {
    const key = ParkingStore.key(consumer, patientKey);
    const m = this.held.get(key) ?? new Map<string, number>();
    m.set(String(seq), untilMs);
    this.held.set(key, m);
    this.refreshGauges();
  }

  private refreshGauges(): void {
    const patients = new Map<string, number>();
    const messages = new Map<string, number>();
    const now = Date.now();
    for (const e of this.mirror.all()) patients.set(e.consumer, (patients.get(e.consumer) ?? 0) + 1);
    for (const [key, m] of this.held) {
      const entry = this.mirror.get(key);
      if (!entry) continue;
      for (const [s, until] of m) if (until < now) m.delete(s);
      messages.set(entry.consumer, (messages.get(entry.consumer) ?? 0) + m.size);
    }
    PARKING_METRICS.parkedPatients.reset();
    PARKING_METRICS.parkedMessages.reset();
    for (const [c, n] of patients) PARKING_METRICS.parkedPatients.labels(c).set(n);
    for (const [c, n] of messages) PARKING_METRICS.parkedMessages.labels(c).set(n);
  }
}
