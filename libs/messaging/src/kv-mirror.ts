import type { NatsConnection } from '@nats-io/transport-node';
import { KvWatchInclude, Kvm, type KV, type KvEntry } from '@nats-io/kv';

import type { Logger } from '@lifeline/observability';

export interface KvMirrorOptions {
  bucket: string;
  description: string;
  /** Bucket max age: a safety net for entries nobody clears. */
  ttlMs?: number;
  /** Called after every change seen (local or through the watch), e.g. to refresh gauges. */
  onChange?: () => void;
}

/**
 * A JetStream KV bucket (history 1) mirrored in memory by a watch, so the per-message check costs no
 * round trip and every replica sees every write. `open()` resolves once the current values are loaded:
 * a consumer started after it never runs with an empty mirror (what makes the state survive restarts).
 */
export class KvMirror<T> {
  private kv?: KV;
  private readonly values = new Map<string, T>();
  private stopWatch?: () => void;

  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Logger,
    private readonly options: KvMirrorOptions,
  ) {}

  async open(): Promise<void> {
    if (this.kv) return;
    const { bucket, description, ttlMs } = this.options;
    this.kv = await new Kvm(this.nc).create(bucket, { history: 1, description, ...(ttlMs ? { ttl: ttlMs } : {}) });
    // updates first, then the current values: nothing set in between is missed
    const watch = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly });
    this.stopWatch = () => watch.stop();
    void (async () => {
      for await (const e of watch) this.apply(e);
    })().catch((err: unknown) => this.logger.error({ err: err instanceof Error ? err.name : typeof err, bucket }, 'kv watch ended'));
    const kv = this.kv;
    for await (const key of await kv.keys()) {
      const e = await kv.get(key);
      if (e && !this.values.has(key)) this.apply(e);
    }
  }

  close(): void {
    this.stopWatch?.();
  }

  get(key: string): T | undefined {
    return this.values.get(key);
  }

  all(): IterableIterator<T> {
    return this.values.values();
  }

  /** Writes through (awaited), then mirrors at once: the writer does not wait for its own watch event. */
  async put(key: string, value: T): Promise<void> {
    await this.requireKv().put(key, JSON.stringify(value));
    this.values.set(key, value);
    this.options.onChange?.();
  }

  async purge(key: string): Promise<void> {
    await this.requireKv().purge(key);
    this.values.delete(key);
    this.options.onChange?.();
  }

  private apply(e: KvEntry): void {
    if (e.operation === 'PUT' && e.length > 0) this.values.set(e.key, e.json<T>());
    else this.values.delete(e.key);
    this.options.onChange?.();
  }

  private requireKv(): KV {
    if (!this.kv) throw new Error(`kv bucket ${this.options.bucket} is not open`);
    return this.kv;
  }
}
