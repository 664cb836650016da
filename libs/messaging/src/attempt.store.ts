import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';

import type { Naming } from '@lifeline/contracts';
import type { Logger } from '@lifeline/observability';

import type { AttemptRecord } from './retry-policy.js';

const DAY_MS = 24 * 3_600_000;

/**
 * Failed attempts per (consumer, stream position) in a JetStream KV bucket, so a dead letter keeps
 * every attempt with its time across process restarts and replicas (the redelivered message itself
 * carries only a delivery count). Entries age out after a day; a lost write only loses history, and
 * the decision then falls back to the broker's delivery count (over-counts, never under-counts).
 */
export class AttemptStore {
  private kv?: KV;

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly logger: Logger,
  ) {}

  static bucket(naming: Naming): string {
    return naming.kvBucket('ATTEMPTS');
  }

  async open(): Promise<void> {
    this.kv = await new Kvm(this.nc).create(AttemptStore.bucket(this.naming), {
      history: 1,
      ttl: DAY_MS,
      description: 'failed attempts per consumer and stream sequence (dead-letter history)',
    });
  }

  /** Two durables may consume the same stream position: the consumer is part of the key. */
  static key(consumer: string, stream: string, seq: number): string {
    return `${consumer}.${stream}.${seq}`;
  }

  /** The recorded attempts, or undefined when the store cannot answer. */
  async read(key: string): Promise<AttemptRecord[] | undefined> {
    if (!this.kv) return undefined;
    try {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== 'PUT' || entry.length === 0) return [];
      return entry.json<AttemptRecord[]>();
    } catch (err) {
      this.logger.warn({ err: errName(err) }, 'attempt store read failed; using the delivery count');
      return undefined;
    }
  }

  async write(key: string, attempts: readonly AttemptRecord[]): Promise<void> {
    if (!this.kv) return;
    try {
      await this.kv.put(key, JSON.stringify(attempts));
    } catch (err) {
      this.logger.warn({ err: errName(err) }, 'attempt store write failed; history may be incomplete');
    }
  }

  async remove(key: string): Promise<void> {
    if (!this.kv) return;
    try {
      await this.kv.purge(key);
    } catch (err) {
      this.logger.warn({ err: errName(err) }, 'attempt store purge failed; the entry ages out');
    }
  }
}

function errName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}
