import type { NatsConnection } from '@nats-io/transport-node';

import type { Naming } from '@lifeline/contracts';
import type { Logger } from '@lifeline/observability';

import { KvMirror } from './kv-mirror.js';
import { ParkingStore } from './parking.store.js';

/** A patient's message expected back on one consumer (its later messages wait for it). */
export interface RetryHead {
  seq: number;
  /** Epoch ms after which it no longer holds anything (expected redelivery + ack wait). */
  until: number;
}

/** The stored value: every message of the patient still expected back, by stream sequence. */
interface PendingMessages {
  pending: RetryHead[];
}

const DAY_MS = 24 * 3_600_000;

/**
 * Messages expected back per (consumer, patient) in a JetStream KV bucket, mirrored in memory.
 *
 * The in-process PatientOrderGate knows that patient P's event 5 is away for a 30 s backoff and holds
 * P's event 6 meanwhile. That knowledge died with the process: after a restart (a deploy during a
 * downstream outage is the usual case) event 6 came back after its short hold, found an empty gate and
 * ran before event 5. Written before the nak (like the attempt history) and loaded before any consumer
 * pulls, the entry makes the hold survive a restart and shows it to other replicas. Only the retry path,
 * hand-backs and a graceful stop write; the happy path reads the in-memory mirror.
 *
 * Every pending message is kept, not only the earliest: with only the earliest (event 0), a later one
 * the stopping process had seen (event 3, e.g. delivered to it as it closed and back only after ack
 * wait) was unknown to the next process once event 0 was applied, and event 4 overtook it.
 *
 * Not covered here: a message *running* when its process dies comes back after ack wait, and another
 * replica may run a later event of the same patient meanwhile; consumer leases (consumer-lease.ts)
 * cover that.
 */
export class RetryHeadStore {
  private readonly mirror: KvMirror<PendingMessages | RetryHead>;
  // read-modify-write of one key is serialised in this process (a hand-back and a clear may race)
  private readonly chains = new Map<string, Promise<void>>();

  constructor(nc: NatsConnection, naming: Naming, logger: Logger) {
    this.mirror = new KvMirror<PendingMessages | RetryHead>(nc, logger, {
      bucket: RetryHeadStore.bucket(naming),
      description: 'messages expected back per consumer and patient (ordering across restarts)',
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

  /** The earliest message that `seq` must wait for: an earlier message of the patient still expected back. */
  blocking(consumer: string, patientKey: string, seq: number, now = Date.now()): RetryHead | undefined {
    let earliest: RetryHead | undefined;
    for (const p of this.pendingOf(ParkingStore.key(consumer, patientKey))) {
      if (p.seq < seq && p.until > now && (!earliest || p.seq < earliest.seq)) earliest = p;
    }
    return earliest;
  }

  /** Records messages of the patient as expected back (a later `until` wins for a known sequence). */
  note(consumer: string, patientKey: string, heads: RetryHead | RetryHead[], now = Date.now()): Promise<void> {
    const key = ParkingStore.key(consumer, patientKey);
    const added = Array.isArray(heads) ? heads : [heads];
    return this.serialised(key, async () => {
      const current = this.pendingOf(key);
      const bySeq = new Map<number, RetryHead>();
      for (const p of current) if (p.until > now) bySeq.set(p.seq, p);
      let changed = bySeq.size !== current.length;
      for (const h of added) {
        const known = bySeq.get(h.seq);
        if (h.until <= now || (known && known.until >= h.until)) continue;
        bySeq.set(h.seq, h);
        changed = true;
      }
      if (!changed) return;
      if (bySeq.size === 0) await this.mirror.purge(key);
      else await this.mirror.put(key, { pending: [...bySeq.values()].sort((a, b) => a.seq - b.seq) });
    });
  }

  /** Forgets `seq` once it is settled for good (acked or dead-lettered). No round trip unless it was pending. */
  clear(consumer: string, patientKey: string, seq: number, now = Date.now()): Promise<void> {
    const key = ParkingStore.key(consumer, patientKey);
    if (!this.pendingOf(key).some((p) => p.seq === seq)) return Promise.resolve();
    return this.serialised(key, async () => {
      const rest = this.pendingOf(key).filter((p) => p.seq !== seq && p.until > now);
      if (rest.length === 0) await this.mirror.purge(key);
      else await this.mirror.put(key, { pending: rest });
    });
  }

  private pendingOf(key: string): RetryHead[] {
    const v = this.mirror.get(key);
    if (!v) return [];
    // a value written by a version that kept only the earliest head (rolling deploys)
    return 'pending' in v ? v.pending : [v];
  }

  private serialised(key: string, work: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(key) ?? Promise.resolve()).then(work);
    const settled = next.catch(() => undefined);
    this.chains.set(key, settled);
    void settled.then(() => {
      if (this.chains.get(key) === settled) this.chains.delete(key);
    });
    return next;
  }
}
