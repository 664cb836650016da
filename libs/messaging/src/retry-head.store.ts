import type { NatsConnection } from '@nats-io/transport-node';

import type { Naming } from '@lifeline/contracts';
import type { Logger } from '@lifeline/observability';

import { KvMirror } from './kv-mirror.js';
import { ParkingStore } from './parking.store.js';

/** A patient's message waiting for a delayed redelivery on one consumer (its later messages wait too). */
export interface RetryHead {
  seq: number;
  /** Epoch ms after which the head no longer holds anything (expected redelivery + ack wait). */
  until: number;
}

const DAY_MS = 24 * 3_600_000;

/**
 * Retrying heads per (consumer, patient) in a JetStream KV bucket, mirrored in memory.
 *
 * The in-process PatientOrderGate knows that patient P's event 5 is away for a 30 s backoff and holds
 * P's event 6 meanwhile. That knowledge died with the process: after a restart (a deploy during a
 * downstream outage is the usual case) event 6 came back after its short hold, found an empty gate and
 * ran before event 5. Written before the nak (like the attempt history) and loaded before any consumer
 * pulls, the head makes the hold survive a restart and shows it to other replicas. Only the retry path
 * writes; the happy path reads the in-memory mirror.
 *
 * Not covered here: a message *running* (not yet failed) when its process dies comes back after ack
 * wait, and another replica may run a later event of the same patient meanwhile; consumer leases
 * (consumer-lease.ts) cover that.
 */
export class RetryHeadStore {
  private readonly mirror: KvMirror<RetryHead>;

  constructor(nc: NatsConnection, naming: Naming, logger: Logger) {
    this.mirror = new KvMirror<RetryHead>(nc, logger, {
      bucket: RetryHeadStore.bucket(naming),
      description: 'retrying head per consumer and patient (ordering across restarts)',
      ttlMs: DAY_MS,
    });
  }

  static bucket(naming: Naming): string {
    return naming.kvBucket('RETRY_HEADS');
  }

  open(): Promise<void> {
    return this.mirror.open();
  }

  close(): void {
    this.mirror.close();
  }

  /** The head that `seq` must wait for: an earlier message of the patient still expected back. */
  blocking(consumer: string, patientKey: string, seq: number, now = Date.now()): RetryHead | undefined {
    const head = this.mirror.get(ParkingStore.key(consumer, patientKey));
    return head && head.seq < seq && head.until > now ? head : undefined;
  }

  /** Records `seq` as the patient's head unless an earlier live head is recorded already. */
  async note(consumer: string, patientKey: string, head: RetryHead, now = Date.now()): Promise<void> {
    const key = ParkingStore.key(consumer, patientKey);
    const current = this.mirror.get(key);
    if (current && current.seq < head.seq && current.until > now) return;
    await this.mirror.put(key, head);
  }

  /** Clears the patient's head once `seq` is settled for good (acked or dead-lettered). No-op otherwise. */
  async clear(consumer: string, patientKey: string, seq: number): Promise<void> {
    const key = ParkingStore.key(consumer, patientKey);
    const current = this.mirror.get(key);
    if (!current || (current.seq !== seq && current.until > Date.now())) return;
    await this.mirror.purge(key);
  }
}
