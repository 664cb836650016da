import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';

import type { Naming } from '@lifeline/contracts';
import type { Logger } from '@lifeline/observability';

export interface ConsumerLeaseOptions {
  /**
   * How long a lease outlives its holder's last renewal. Must exceed the consumers' ack wait: a new
   * holder then starts only after everything the old one had in flight is due for redelivery, and the
   * server redelivers before it delivers anything new (what keeps a patient's order across a crash).
   */
  ttlMs: number;
  /** This process, for operators reading the bucket (host, pid). */
  holder: string;
  /** Skips the boot check TTL > ack wait: only for the test that shows why it exists. */
  unsafeShortTtl?: boolean;
}

export interface HeldLease {
  /** Settles when the lease is lost (not renewed in time, or taken): stop pulling at once. */
  readonly lost: Promise<void>;
  /** Gives the lease up (after the holder's handlers finished), so a standby takes over at once. */
  release(): Promise<void>;
}

/**
 * One active process per consumer (durable) across replicas: nats-server 2.9 has no pinned-client
 * priority groups (2.11), so the lease is a KV key created with compare-and-set, renewed at a third of
 * its TTL (bucket max age) and given up on a graceful stop. Standby processes poll for it.
 */
export class ConsumerLeases {
  private kv?: KV;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<() => void>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly logger: Logger,
    private readonly options: ConsumerLeaseOptions,
  ) {}

  static bucket(naming: Naming): string {
    return naming.kvBucket('CONSUMER_LEASES');
  }

  async open(): Promise<void> {
    if (this.kv) return;
    this.kv = await new Kvm(this.nc).create(ConsumerLeases.bucket(this.naming), {
      history: 1,
      ttl: this.options.ttlMs,
      description: 'one active process per consumer (holder, renewed until it stops)',
    });
  }

  /** Resolves with the lease once held, or undefined once `stopped()` (polled between tries). */
  async acquire(durable: string, stopped: () => boolean): Promise<HeldLease | undefined> {
    const kv = this.requireKv();
    const pollMs = Math.max(100, Math.floor(this.options.ttlMs / 6));
    while (!stopped()) {
      try {
        const revision = await kv.create(durable, this.options.holder);
        return this.hold(kv, durable, revision);
      } catch {
        // held by another process (or the KV is unreachable): try again after a while
      }
      await this.sleep(pollMs);
    }
    return undefined;
  }

  /** Wakes pending acquires so they see that they should stop. */
  interrupt(): void {
    for (const wake of [...this.sleepers]) wake();
  }

  /** Stops renewing (the leases lapse after their TTL unless released) and wakes pending acquires. */
  close(): void {
    this.interrupt();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private hold(kv: KV, durable: string, firstRevision: number): HeldLease {
    let revision = firstRevision;
    let lastRenewed = Date.now();
    let released = false;
    let markLost: () => void = () => undefined;
    const lost = new Promise<void>((resolve) => {
      markLost = resolve;
    });
    const renewEvery = Math.max(100, Math.floor(this.options.ttlMs / 3));
    const renew = async (): Promise<void> => {
      if (released) return;
      try {
        revision = await kv.update(durable, this.options.holder, revision);
        lastRenewed = Date.now();
      } catch (err) {
        // a failed compare-and-set means another holder: lost at once; an unreachable KV only once
        // the others may have taken it (two thirds of the TTL), so a blip does not stop consumption
        const taken = err instanceof Error && /wrong last sequence/i.test(err.message);
        if (taken || Date.now() - lastRenewed > (this.options.ttlMs * 2) / 3) {
          released = true;
          this.logger.warn({ consumer: durable, taken }, 'consumer lease lost; stopping this consumer here');
          markLost();
          return;
        }
      }
      const t = setTimeout(() => {
        this.timers.delete(t);
        void renew();
      }, renewEvery);
      this.timers.add(t);
    };
    const first = setTimeout(() => {
      this.timers.delete(first);
      void renew();
    }, renewEvery);
    this.timers.add(first);
    return {
      lost,
      release: async () => {
        if (released) return;
        released = true;
        await kv.delete(durable, { previousSeq: revision }).catch(() => undefined);
      },
    };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(t);
        this.timers.delete(t);
        this.sleepers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.timers.add(t);
      this.sleepers.add(wake);
    });
  }

  private requireKv(): KV {
    if (!this.kv) throw new Error('consumer leases are not open');
    return this.kv;
  }
}
