import type { DataSource, EntityManager } from 'typeorm';

import { bindActiveContext } from '@lifeline/observability';

import { outboxSignal } from './outbox-signal.util.js';
import { runInTransaction } from './transaction.util.js';

/**
 * Group commit for concurrent handlers: the works of messages that arrive while earlier batches are
 * committing run one after another in ONE transaction, their inbox keys are claimed in one statement
 * up front, and their appends and outbox rows are written as multi-row statements just before the one
 * COMMIT. A hop of 16 concurrent messages then costs ~16 + 5 round trips and one WAL flush instead of
 * 16 × 6 round trips and 16 flushes (bench/README.md, "Group commit").
 *
 * Semantics per message are those of `runInTransaction`: its inbox row, events and outbox rows commit
 * together or not at all. When anything in a batch fails (a work throws, a version conflict at the
 * flush, a stream read after this batch deferred an append to it), the whole batch rolls back; the
 * failing work then runs alone in its own transaction, between its batch-mates before and after it
 * (each group again as a batch), so one message's error is reported to that message's caller only and
 * the others are not held back. Works must therefore be re-runnable after a rollback, which every
 * transactional work already is (a failed commit is retried by redelivery): only database effects
 * inside, no HTTP calls, no process state they cannot repeat.
 */
export interface BatchedWork<T> {
  /** The inbox key the work will claim with `claimInbox`: claimed for the whole batch in one statement. */
  inbox?: { consumer: string; key: string };
  work: (manager: EntityManager) => Promise<T>;
}

export interface TransactionBatcherOptions {
  /** Most works in one transaction (default 32). */
  maxBatch?: number;
  /** Batches in flight at once, each on its own connection (default 2). */
  maxParallel?: number;
  /** Turns batching off: every work runs alone (the negative control and an operational switch). */
  disabled?: boolean;
  /**
   * Negative control only: a failed batch rejects every work of it instead of running each alone, so a
   * test can show that one message's error would otherwise take its batch-mates down.
   */
  unsafeNoFallback?: boolean;
  /** Observes each batch (size, whether it fell back to one transaction per work). */
  onBatch?: (info: { size: number; fellBack: boolean }) => void;
}

/** A write that a batch defers to one multi-row statement before its COMMIT. */
export interface DeferredWriter<R> {
  readonly name: string;
  flush(manager: EntityManager, rows: R[]): Promise<void>;
}

/** Raised inside a batch when a work needs what the batch deferred (read-your-writes): run alone. */
export class BatchFallbackSignal extends Error {
  constructor(reason: string) {
    super(`transaction batch falls back: ${reason}`);
    this.name = 'BatchFallbackSignal';
  }
}

interface BatchState {
  claimed: Map<string, boolean>;
  writers: Map<string, { writer: DeferredWriter<unknown>; rows: unknown[] }>;
}

const batches = new WeakMap<EntityManager, BatchState>();

const inboxKey = (consumer: string, key: string): string => `${consumer}\u0000${key}`;

/** The pre-claimed inbox result for this key in this batch's transaction, or undefined outside one. */
export function batchedInboxClaim(manager: EntityManager, consumer: string, key: string): boolean | undefined {
  const state = batches.get(manager);
  if (!state) return undefined;
  const k = inboxKey(consumer, key);
  const claimed = state.claimed.get(k);
  // a second claim of one key in one batch is a duplicate delivery: only the first applies
  if (claimed) state.claimed.set(k, false);
  return claimed;
}

/** Defers `rows` to the batch's flush when `manager` belongs to a batch; false means "write now". */
export function deferWrite<R>(manager: EntityManager, writer: DeferredWriter<R>, rows: R[]): boolean {
  const state = batches.get(manager);
  if (!state) return false;
  let entry = state.writers.get(writer.name);
  if (!entry) {
    entry = { writer: writer as DeferredWriter<unknown>, rows: [] };
    state.writers.set(writer.name, entry);
  }
  entry.rows.push(...rows);
  return true;
}

/** Rows deferred so far by `writer` in this batch (empty outside a batch). */
export function deferredRows<R>(manager: EntityManager, writer: DeferredWriter<R>): readonly R[] {
  return (batches.get(manager)?.writers.get(writer.name)?.rows as R[] | undefined) ?? [];
}

interface Pending {
  item: BatchedWork<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class TransactionBatcher {
  private readonly maxBatch: number;
  private readonly maxParallel: number;
  private queue: Pending[] = [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: TransactionBatcherOptions = {},
  ) {
    this.maxBatch = Math.max(1, options.maxBatch ?? 32);
    this.maxParallel = Math.max(1, options.maxParallel ?? 2);
  }

  run<T>(item: BatchedWork<T>): Promise<T> {
    if (this.options.disabled) return runInTransaction(this.dataSource, item.work);
    // the work runs in another message's task: keep its own trace (spans, outbox traceparent, metadata)
    const bound: BatchedWork<unknown> = { inbox: item.inbox, work: bindActiveContext(item.work) };
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ item: bound, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // one turn of the event loop lets the handlers of one pull (several messages) join one batch
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.maxParallel && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.running += 1;
      void this.execute(batch).finally(() => {
        this.running -= 1;
        if (this.queue.length > 0) this.schedule();
      });
    }
  }

  private async execute(batch: Pending[]): Promise<void> {
    if (batch.length === 0) return;
    if (batch.length === 1) {
      const only = batch[0] as Pending;
      await runInTransaction(this.dataSource, only.item.work).then(only.resolve, only.reject);
      this.options.onBatch?.({ size: 1, fellBack: false });
      return;
    }
    let results: unknown[];
    // index of the work running when the batch failed; undefined while claiming, flushing, committing
    let failedAt: number | undefined;
    try {
      results = await this.dataSource.transaction(async (manager) => {
        const state: BatchState = { claimed: new Map(), writers: new Map() };
        batches.set(manager, state);
        try {
          await claimAll(manager, state, batch);
          const out: unknown[] = [];
          for (const [i, p] of batch.entries()) {
            failedAt = i;
            out.push(await p.item.work(manager));
          }
          failedAt = undefined;
          for (const { writer, rows } of state.writers.values()) if (rows.length > 0) await writer.flush(manager, rows);
          return out;
        } finally {
          batches.delete(manager);
        }
      });
    } catch (err) {
      this.options.onBatch?.({ size: batch.length, fellBack: true });
      if (this.options.unsafeNoFallback) {
        batch.forEach((p) => p.reject(err));
        return;
      }
      // Nothing of the batch is committed. In arrival order: the works before the failing one as a
      // batch, the failing one alone (its own error reaches its own caller only; a work that needed an
      // earlier batch-mate's deferred append now sees it committed), the works after it as a batch.
      // A work that fails now and then (a reply before its saga exists) thus costs two extra
      // transactions, not one per batch-mate.
      if (failedAt !== undefined) {
        const failing = batch[failedAt] as Pending;
        await this.execute(batch.slice(0, failedAt));
        await runInTransaction(this.dataSource, failing.item.work).then(failing.resolve, failing.reject);
        await this.execute(batch.slice(failedAt + 1));
        return;
      }
      // Failed outside any one work (a conflict at the flush, the commit): each work alone, in order,
      // so two works on one stream apply one after the other instead of conflicting again.
      for (const p of batch) await runInTransaction(this.dataSource, p.item.work).then(p.resolve, p.reject);
      return;
    }
    outboxSignal.notify();
    this.options.onBatch?.({ size: batch.length, fellBack: false });
    batch.forEach((p, i) => p.resolve(results[i]));
  }
}

async function claimAll(manager: EntityManager, state: BatchState, batch: Pending[]): Promise<void> {
  const consumers: string[] = [];
  const keys: string[] = [];
  for (const { item } of batch) {
    if (!item.inbox) continue;
    const k = inboxKey(item.inbox.consumer, item.inbox.key);
    if (state.claimed.has(k)) continue;
    state.claimed.set(k, false);
    consumers.push(item.inbox.consumer);
    keys.push(item.inbox.key);
  }
  if (keys.length === 0) return;
  const rows: Array<{ consumer: string; message_id: string }> = await manager.query(
    `INSERT INTO inbox (consumer, message_id) SELECT * FROM unnest($1::text[], $2::text[])
     ON CONFLICT DO NOTHING RETURNING consumer, message_id`,
    [consumers, keys],
  );
  for (const r of rows) state.claimed.set(inboxKey(r.consumer, r.message_id), true);
}

/**
 * `batcher.run(item)` when the service has a batcher (ServiceCoreModule provides one; a service built by
 * hand in a spec may not), else one transaction for this work alone.
 */
export function runBatched<T>(batcher: TransactionBatcher | undefined, dataSource: DataSource, item: BatchedWork<T>): Promise<T> {
  return batcher ? batcher.run(item) : runInTransaction(dataSource, item.work);
}
