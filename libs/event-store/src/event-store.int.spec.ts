import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';

import { isAppError } from '@lifeline/errors';
import { createServiceDataSource, migrateUnderLock, runInTransaction } from '@lifeline/outbox';
import { createTestDatabase } from '@lifeline/testing';

import type { Decider, DomainEvent } from './decider.js';
import { EventStore, handleCommand } from './event-store.js';
import { CreateEventStore1764000000001 } from './event-store.migration.js';

type CounterEvent = DomainEvent<'Incremented', { by: number }>;
const counter: Decider<{ total: number }, { add: number }, CounterEvent> = {
  initialState: { total: 0 },
  decide: (c) => (c.add === 0 ? [] : [{ type: 'Incremented', data: { by: c.add } }]),
  evolve: (s, e) => ({ total: s.total + e.data.by }),
};

describe('EventStore (real PostgreSQL)', () => {
  let ds: DataSource;
  let drop: () => Promise<void>;
  const store = new EventStore();

  beforeAll(async () => {
    const db = await createTestDatabase('event-store');
    drop = db.drop;
    ds = createServiceDataSource({ service: 'es-test', url: db.url, migrations: [CreateEventStore1764000000001] });
    await ds.initialize();
    await migrateUnderLock(ds, 'es-test');
  });

  afterAll(async () => {
    await ds.destroy();
    await drop();
  });

  it('appends and loads a stream in order with versions', async () => {
    await runInTransaction(ds, (m) => handleCommand({ manager: m, store, streamId: 's-1', decider: counter, command: { add: 2 } }));
    const r = await runInTransaction(ds, (m) => handleCommand({ manager: m, store, streamId: 's-1', decider: counter, command: { add: 3 } }));
    expect(r.state).toEqual({ total: 5 });
    expect(r.version).toBe(2);
    const loaded = await runInTransaction(ds, (m) => store.load<CounterEvent>(m, 's-1'));
    expect(loaded.events.map((e) => [e.version, e.event.data.by])).toEqual([[1, 2], [2, 3]]);
  });

  it('rejects a stale writer with a retryable version conflict and keeps the winner only', async () => {
    await runInTransaction(ds, (m) => store.append(m, { streamId: 's-2', expectedVersion: 0, events: [{ type: 'Incremented', data: { by: 1 } }] }));
    let caught: unknown;
    try {
      await runInTransaction(ds, (m) => store.append(m, { streamId: 's-2', expectedVersion: 0, events: [{ type: 'Incremented', data: { by: 9 } }] }));
    } catch (err) {
      caught = err;
    }
    expect(isAppError(caught, 'STREAM_VERSION_CONFLICT')).toBe(true);
    expect((caught as { retryable: boolean }).retryable).toBe(true);
    const loaded = await runInTransaction(ds, (m) => store.load<CounterEvent>(m, 's-2'));
    expect(loaded.events.map((e) => e.event.data.by)).toEqual([1]);
  });

  it('lets exactly one of two overlapping writers of the same version win', async () => {
    const a = ds.createQueryRunner();
    const b = ds.createQueryRunner();
    await Promise.all([a.connect(), b.connect()]);
    await a.startTransaction();
    await b.startTransaction();
    // both read version 0, then both append version 1
    expect((await store.load(a.manager, 's-3')).version).toBe(0);
    expect((await store.load(b.manager, 's-3')).version).toBe(0);
    await store.append(a.manager, { streamId: 's-3', expectedVersion: 0, events: [{ type: 'Incremented', data: { by: 1 } }] });
    const loser = store.append(b.manager, { streamId: 's-3', expectedVersion: 0, events: [{ type: 'Incremented', data: { by: 2 } }] });
    await a.commitTransaction();
    await expect(loser).rejects.toMatchObject({ code: 'STREAM_VERSION_CONFLICT', retryable: true });
    await b.rollbackTransaction();
    await Promise.all([a.release(), b.release()]);
    const loaded = await runInTransaction(ds, (m) => store.load<CounterEvent>(m, 's-3'));
    expect(loaded.events.map((e) => e.event.data.by)).toEqual([1]);
  });

  it('appends nothing when the decider decides nothing', async () => {
    const r = await runInTransaction(ds, (m) => handleCommand({ manager: m, store, streamId: 's-4', decider: counter, command: { add: 0 } }));
    expect(r.events).toEqual([]);
    expect(r.version).toBe(0);
  });
});
