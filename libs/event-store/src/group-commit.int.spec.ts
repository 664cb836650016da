import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';

import { newEnvelope } from '@lifeline/contracts';
import { AppError, isAppError } from '@lifeline/errors';
import { currentTraceId, inSpan } from '@lifeline/observability';
import {
  TransactionBatcher,
  addToOutbox,
  claimInbox,
  createServiceDataSource,
  migrateUnderLock,
  type TransactionBatcherOptions,
} from '@lifeline/outbox';
import { createTestDatabase, installTestTracing } from '@lifeline/testing';

import type { Decider, DomainEvent } from './decider.js';
import { EventStore, handleCommand } from './event-store.js';
import { CreateEventStore1764000000001 } from './event-store.migration.js';

// TransactionBatcher lives in @lifeline/outbox; its spec is here because a hop's batch needs the event
// store too (outbox may not import event-store: the dependency points the other way).

type AddedEvent = DomainEvent<'Added', { by: number }>;
interface AddCommand {
  add: number;
  fail?: boolean;
}
const counter: Decider<{ total: number }, AddCommand, AddedEvent> = {
  initialState: { total: 0 },
  decide: (c) => {
    if (c.fail) throw new AppError({ code: 'TEST_REFUSED', retryable: false, message: 'refused by the test' });
    return [{ type: 'Added', data: { by: c.add } }];
  },
  evolve: (s, e) => ({ total: s.total + e.data.by }),
};

describe('TransactionBatcher: group commit of a hop (real PostgreSQL)', () => {
  let ds: DataSource;
  let drop: () => Promise<void>;
  const store = new EventStore();

  beforeAll(async () => {
    const db = await createTestDatabase('group-commit');
    drop = db.drop;
    ds = createServiceDataSource({ service: 'gc-test', url: db.url, migrations: [CreateEventStore1764000000001], poolSize: 4 });
    await ds.initialize();
    await migrateUnderLock(ds, 'gc-test');
  });

  afterAll(async () => {
    await ds.destroy();
    await drop();
  });

  /** One hop as the services write it: inbox claim, load → decide → append, one outbox message. */
  function hop(batcher: TransactionBatcher, p: { consumer: string; key: string; streamId: string; command: AddCommand }) {
    return batcher.run({
      inbox: { consumer: p.consumer, key: p.key },
      work: async (manager) => {
        if (!(await claimInbox(manager, p.consumer, p.key))) return { applied: false, traceId: currentTraceId() };
        const r = await handleCommand({ manager, store, streamId: p.streamId, decider: counter, command: p.command });
        const envelope = newEnvelope({ type: 'clinical.test.counted.v1', source: 'test', data: { streamId: p.streamId, version: r.version }, idempotencyKey: `out|${p.key}` });
        await addToOutbox(manager, { envelope, aggregateId: p.streamId });
        return { applied: true, traceId: currentTraceId(), version: r.version };
      },
    });
  }

  function recording(extra: TransactionBatcherOptions = {}) {
    const batches: Array<{ size: number; fellBack: boolean }> = [];
    const batcher = new TransactionBatcher(ds, { maxParallel: 1, ...extra, onBatch: (b) => batches.push(b) });
    return { batcher, batches };
  }

  async function counts(prefix: string) {
    const [row] = (await ds.query(
      `SELECT (SELECT count(*) FROM events WHERE stream_id LIKE $1)::int AS events,
              (SELECT count(*) FROM outbox WHERE aggregate_id LIKE $1)::int AS outbox,
              (SELECT count(*) FROM inbox WHERE message_id LIKE $1)::int AS inbox`,
      [`${prefix}%`],
    )) as Array<{ events: number; outbox: number; inbox: number }>;
    return row as { events: number; outbox: number; inbox: number };
  }

  it('commits concurrent works together: fewer transactions than messages, every effect written once', async () => {
    const { batcher, batches } = recording();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => hop(batcher, { consumer: 'c', key: `gc-a-${i}`, streamId: `gc-a-${i}`, command: { add: i } })),
    );
    expect(results.every((r) => r.applied)).toBe(true);
    expect(await counts('gc-a-')).toEqual({ events: 40, outbox: 40, inbox: 40 });
    expect(batches.reduce((n, b) => n + b.size, 0)).toBe(40);
    expect(batches.length).toBeLessThan(40);
    expect(Math.max(...batches.map((b) => b.size))).toBeGreaterThan(1);
    expect(batches.some((b) => b.fellBack)).toBe(false);
  });

  it('a failing work fails alone: its batch-mates commit, its own error reaches only its caller', async () => {
    const { batcher, batches } = recording();
    const settled = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => hop(batcher, { consumer: 'c', key: `gc-b-${i}`, streamId: `gc-b-${i}`, command: { add: 1, fail: i === 3 } })),
    );
    expect(batches.some((b) => b.fellBack && b.size > 1)).toBe(true);
    const rejected = settled.flatMap((s, i) => (s.status === 'rejected' ? [{ i, reason: s.reason as unknown }] : []));
    expect(rejected.map((r) => r.i)).toEqual([3]);
    expect(isAppError(rejected[0]?.reason) && rejected[0]?.reason.code).toBe('TEST_REFUSED');
    // the failed message left nothing (no inbox row: its redelivery will be processed), the others all
    expect(await counts('gc-b-')).toEqual({ events: 9, outbox: 9, inbox: 9 });
    expect((await counts('gc-b-3')).inbox).toBe(0);
  });

  it('negative control: without the fallback, one failing work takes its whole batch down', async () => {
    const { batcher, batches } = recording({ unsafeNoFallback: true });
    const settled = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => hop(batcher, { consumer: 'c', key: `gc-n-${i}`, streamId: `gc-n-${i}`, command: { add: 1, fail: i === 3 } })),
    );
    const failedBatch = batches.find((b) => b.fellBack);
    expect(failedBatch?.size).toBeGreaterThan(1);
    // healthy messages that shared the failing one's batch are rejected (and would be redelivered)
    expect(settled.filter((s) => s.status === 'rejected').length).toBe(failedBatch?.size);
  });

  it('two messages for one stream in a batch apply in arrival order (the batch falls back, no conflict)', async () => {
    const { batcher, batches } = recording();
    const results = await Promise.all([1, 2, 3].map((n) => hop(batcher, { consumer: 'c', key: `gc-c-${n}`, streamId: 'gc-c-stream', command: { add: n } })));
    expect(results.map((r) => r.version)).toEqual([1, 2, 3]);
    expect(batches.some((b) => b.fellBack)).toBe(true);
    const rows = (await ds.query(`SELECT version, data FROM events WHERE stream_id = 'gc-c-stream' ORDER BY version`)) as Array<{ version: number; data: { by: number } }>;
    expect(rows.map((r) => r.data.by)).toEqual([1, 2, 3]);
  });

  it('a version conflict found only at the flush fails its own message; the others commit', async () => {
    // another writer got to version 1 of the stream first: the batch's deferred append (expecting 0) conflicts at the flush
    await ds.query(`INSERT INTO events (stream_id, version, type, data) VALUES ('gc-h-stale', 1, 'Added', '{"by": 9}')`);
    const { batcher, batches } = recording();
    const stale = batcher.run({
      work: (manager) => store.append(manager, { streamId: 'gc-h-stale', expectedVersion: 0, events: [{ type: 'Added', data: { by: 1 } }] }),
    });
    const healthy = Array.from({ length: 5 }, (_, i) => hop(batcher, { consumer: 'c', key: `gc-h-${i}`, streamId: `gc-h-${i}`, command: { add: 1 } }));
    const [staleResult, ...others] = await Promise.allSettled([stale, ...healthy]);
    expect(batches.some((b) => b.fellBack && b.size > 1)).toBe(true);
    expect(staleResult?.status).toBe('rejected');
    const reason = staleResult?.status === 'rejected' ? (staleResult.reason as unknown) : undefined;
    expect(isAppError(reason) && reason.code).toBe('STREAM_VERSION_CONFLICT');
    expect(others.every((o) => o.status === 'fulfilled')).toBe(true);
    expect(await counts('gc-h-')).toEqual({ events: 6, outbox: 5, inbox: 5 });
  });

  it('the same message twice in one batch (a redelivery) has one effect', async () => {
    const { batcher } = recording();
    const results = await Promise.all([0, 1].map(() => hop(batcher, { consumer: 'c', key: 'gc-d-1', streamId: 'gc-d-1', command: { add: 5 } })));
    expect(results.map((r) => r.applied).sort()).toEqual([false, true]);
    expect(await counts('gc-d-')).toEqual({ events: 1, outbox: 1, inbox: 1 });
  });

  it('a message already in the inbox is not applied again from a batch', async () => {
    const { batcher } = recording();
    await hop(batcher, { consumer: 'c', key: 'gc-e-1', streamId: 'gc-e-1', command: { add: 1 } });
    const again = await Promise.all([
      hop(batcher, { consumer: 'c', key: 'gc-e-1', streamId: 'gc-e-1', command: { add: 1 } }),
      hop(batcher, { consumer: 'c', key: 'gc-e-2', streamId: 'gc-e-2', command: { add: 1 } }),
    ]);
    expect(again.map((r) => r.applied)).toEqual([false, true]);
    expect(await counts('gc-e-')).toEqual({ events: 2, outbox: 2, inbox: 2 });
  });

  it("each work keeps its caller's trace: trace id in the work and in its outbox row's traceparent", async () => {
    installTestTracing();
    const { batcher, batches } = recording();
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        inSpan({ name: `caller-${i}` }, async () => {
          const caller = currentTraceId();
          const r = await hop(batcher, { consumer: 'c', key: `gc-f-${i}`, streamId: `gc-f-${i}`, command: { add: 1 } });
          return { i, caller, inWork: r.traceId };
        }),
      ),
    );
    expect(Math.max(...batches.map((b) => b.size))).toBeGreaterThan(1);
    const rows = (await ds.query(`SELECT aggregate_id, headers FROM outbox WHERE aggregate_id LIKE 'gc-f-%'`)) as Array<{ aggregate_id: string; headers: Record<string, string> }>;
    for (const run of runs) {
      expect(run.caller).toMatch(/^[0-9a-f]{32}$/);
      expect(run.inWork).toBe(run.caller);
      const row = rows.find((r) => r.aggregate_id === `gc-f-${run.i}`);
      expect(row?.headers.traceparent?.split('-')[1]).toBe(run.caller);
    }
  });

  it('disabled: one transaction per work (the operational switch)', async () => {
    const { batcher, batches } = recording({ disabled: true });
    await Promise.all(Array.from({ length: 6 }, (_, i) => hop(batcher, { consumer: 'c', key: `gc-g-${i}`, streamId: `gc-g-${i}`, command: { add: 1 } })));
    expect(batches).toEqual([]);
    expect(await counts('gc-g-')).toEqual({ events: 6, outbox: 6, inbox: 6 });
  });
});
