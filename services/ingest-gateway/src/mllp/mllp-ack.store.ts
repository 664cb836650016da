import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { JetStreamApiError, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/transport-node';

import type { Naming } from '@lifeline/contracts';
import { AppError } from '@lifeline/errors';
import { NATS_CONNECTION, NATS_NAMING } from '@lifeline/messaging';
import type { Logger } from '@lifeline/observability';
import { SERVICE_LOGGER } from '@lifeline/service-kit';

import {
  INGEST_GATEWAY_CONFIG,
  type IngestGatewayConfig,
} from '../config/ingest-gateway.config.js';
import type { AckClaim, StoredAck } from './mllp-duplicate.util.js';

export type MllpAckStoreErrorCode = 'MLLP_ACK_STORE_UNAVAILABLE';

// JetStream answers these when a create-only put finds the key already written.
const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);

/**
 * The duplicate register of R17: (MSH-3, MSH-4, MSH-10) → content hash and ACK, in a JetStream KV
 * bucket whose max age is the horizon (per-key TTL needs server 2.11). History 1: a key is created
 * once, before its message is published, with the ACK that message gets ('pending'), and confirmed
 * ('stored') after the PubAck by a compare-and-set; the ACK bytes never change, so every resend gets
 * the first ACK.
 */
@Injectable()
export class MllpAckStore implements OnModuleInit {
  private kv?: KV;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(NATS_NAMING) private readonly naming: Naming,
    @Inject(INGEST_GATEWAY_CONFIG) private readonly config: IngestGatewayConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  static bucket(naming: Naming): string {
    return naming.kvBucket('MLLP_ACKS');
  }

  get enabled(): boolean {
    return this.config.mllp.duplicates.enabled;
  }

  /** Creates the bucket when missing (binds when present); fails the boot when JetStream refuses. */
  async onModuleInit(): Promise<void> {
    if (!this.enabled) {
      this.logger.warn({}, 'MLLP duplicate detection is off: resends rely on the INGEST dedup window');
      return;
    }
    const js = jetstream(this.nc, { timeout: this.config.publishTimeoutMs });
    const kv = await new Kvm(js).create(MllpAckStore.bucket(this.naming), {
      history: 1,
      ttl: this.config.mllp.duplicates.horizonMs,
      storage: StorageType.File,
      description: 'MLLP ACK per sending facility and MSH-10, replayed to resends (R17)',
    });
    await this.applyHorizon(kv);
    this.kv = kv;
  }

  // Kvm.create binds to an existing bucket as it is: a changed horizon must be applied explicitly.
  private async applyHorizon(kv: KV): Promise<void> {
    const horizonMs = this.config.mllp.duplicates.horizonMs;
    const status = await kv.status();
    if (status.ttl === horizonMs) return;
    const { config } = status.streamInfo;
    const jsm = await jetstreamManager(this.nc);
    await jsm.streams.update(config.name, { ...config, max_age: nanos(horizonMs) });
    this.logger.info({ bucket: config.name, fromMs: status.ttl, toMs: horizonMs }, 'MLLP duplicate horizon changed');
  }

  /** The ACK remembered for this key with its revision, or null. Throws MLLP_ACK_STORE_UNAVAILABLE. */
  async lookup(key: string): Promise<{ stored: StoredAck; revision: number } | null> {
    const kv = this.bucket();
    try {
      const entry = await kv.get(key);
      if (!entry || entry.operation !== 'PUT' || entry.length === 0) return null;
      return { stored: entry.json<StoredAck>(), revision: entry.revision };
    } catch (cause) {
      throw unavailable('lookup', cause);
    }
  }

  /**
   * Writes `record` unless the key is already there (create-only, one round trip for a new message)
   * and says which record the register holds now: ours, or the one of an earlier or concurrent copy.
   */
  async claim(key: string, record: StoredAck): Promise<AckClaim> {
    const kv = this.bucket();
    try {
      return { kind: 'created', revision: await kv.create(key, JSON.stringify(record)) };
    } catch (cause) {
      if (!isWrongLastSequence(cause)) throw unavailable('claim', cause);
    }
    const held = await this.lookup(key);
    // Written and gone (aged out) between the two calls: only possible with a tiny horizon.
    if (held === null) throw unavailable('claim', new Error('entry vanished'));
    return { kind: 'held', ...held };
  }

  /**
   * Marks a claimed record stored (compare-and-set on its revision). Losing the race to another copy
   * that confirmed first is success: the record is stored either way.
   */
  async confirm(key: string, record: StoredAck, revision: number): Promise<void> {
    const kv = this.bucket();
    try {
      await kv.update(key, JSON.stringify({ ...record, state: 'stored' } satisfies StoredAck), revision);
    } catch (cause) {
      if (!isWrongLastSequence(cause)) throw unavailable('confirm', cause);
    }
  }

  private bucket(): KV {
    if (!this.kv) throw unavailable('open', new Error('bucket not open'));
    return this.kv;
  }
}

function isWrongLastSequence(cause: unknown): boolean {
  return cause instanceof JetStreamApiError && WRONG_LAST_SEQUENCE.has(cause.code);
}

function unavailable(operation: string, cause: unknown): AppError<MllpAckStoreErrorCode> {
  return new AppError<MllpAckStoreErrorCode>({
    code: 'MLLP_ACK_STORE_UNAVAILABLE',
    message: 'MLLP duplicate register unavailable',
    retryable: true,
    details: { operation },
    cause,
  });
}
