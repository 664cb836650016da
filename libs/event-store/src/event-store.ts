import type { EntityManager } from 'typeorm';

import { AppError } from '@lifeline/errors';
import { BatchFallbackSignal, deferWrite, deferredRows, insertRows, type DeferredWriter } from '@lifeline/outbox';

import { fold, type Decider, type DomainEvent } from './decider.js';

export type EventStoreErrorCode = 'STREAM_VERSION_CONFLICT';

export interface EventMetadata {
  messageId?: string;
  correlationId?: string;
  causationId?: string;
  traceId?: string;
  [key: string]: string | undefined;
}

export interface StoredEvent<E extends DomainEvent = DomainEvent> {
  streamId: string;
  version: number;
  globalPosition: string;
  event: E;
  metadata: EventMetadata;
  recordedAt: Date;
}

interface EventRow {
  stream_id: string;
  version: number;
  global_position: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  recorded_at: Date;
}

/**
 * Append-only event streams in PostgreSQL. Every call takes the caller's EntityManager, so events,
 * projections, the inbox row and outbox rows commit together.
 */
export class EventStore {
  async load<E extends DomainEvent>(manager: EntityManager, streamId: string): Promise<{ events: StoredEvent<E>[]; version: number }> {
    // a stream this transaction batch already appended to (deferred, not yet written): run alone
    if (deferredRows(manager, eventRowsWriter).some((r) => r[0] === streamId)) throw new BatchFallbackSignal('stream appended twice in one batch');
    const rows: EventRow[] = await manager.query(
      'SELECT stream_id, version, global_position, type, data, metadata, recorded_at FROM events WHERE stream_id = $1 ORDER BY version',
      [streamId],
    );
    const events = rows.map((r) => ({
      streamId: r.stream_id,
      version: r.version,
      globalPosition: String(r.global_position),
      event: { type: r.type, data: r.data } as E,
      metadata: r.metadata,
      recordedAt: r.recorded_at,
    }));
    return { events, version: rows.length === 0 ? 0 : (rows[rows.length - 1] as EventRow).version };
  }

  /**
   * Appends after `expectedVersion` (0 = new stream). A concurrent writer that got there first makes
   * the unique index fail: that is a retryable conflict (reload, decide again).
   */
  async append(manager: EntityManager, params: { streamId: string; expectedVersion: number; events: DomainEvent[]; metadata?: EventMetadata }): Promise<number> {
    if (params.events.length === 0) return params.expectedVersion;
    const rows = params.events.map((e, i): EventInsertRow => [
      params.streamId,
      params.expectedVersion + i + 1,
      e.type,
      JSON.stringify(e.data),
      JSON.stringify(params.metadata ?? {}),
    ]);
    // in a TransactionBatcher batch the events of all its messages go in one statement before its
    // COMMIT; a conflict then fails the whole batch, whose messages run again alone (and conflict here)
    if (deferWrite(manager, eventRowsWriter, rows)) return params.expectedVersion + params.events.length;
    try {
      // SAVEPOINT-free: a conflict aborts the caller's transaction, which is what we want (retry all of it).
      await eventRowsWriter.flush(manager, rows);
    } catch (err) {
      if ((err as { code?: string }).code === '23505') {
        throw new AppError<EventStoreErrorCode>({
          code: 'STREAM_VERSION_CONFLICT',
          retryable: true,
          message: `stream ${params.streamId} moved past version ${params.expectedVersion}`,
          cause: err,
          details: { streamId: params.streamId, expectedVersion: params.expectedVersion },
        });
      }
      throw err;
    }
    return params.expectedVersion + params.events.length;
  }
}

type EventInsertRow = [streamId: string, version: number, type: string, data: string, metadata: string];

const EVENT_COLUMNS = [['stream_id', ''], ['version', ''], ['type', ''], ['data', '::jsonb'], ['metadata', '::jsonb']] as const;

const eventRowsWriter: DeferredWriter<EventInsertRow> = {
  name: 'events',
  flush: (manager, rows) => insertRows(manager, 'events', EVENT_COLUMNS, rows),
};

/**
 * Load → decide → append, in the caller's transaction. Returns the new events (empty when the command
 * changed nothing, e.g. a duplicate) and the resulting state, for projections and outbox messages.
 */
export async function handleCommand<S, C, E extends DomainEvent>(params: {
  manager: EntityManager;
  store: EventStore;
  streamId: string;
  decider: Decider<S, C, E>;
  command: C;
  metadata?: EventMetadata;
}): Promise<{ events: E[]; state: S; version: number; previous: S }> {
  const { events: stored, version } = await params.store.load<E>(params.manager, params.streamId);
  const previous = fold(params.decider, stored.map((s) => s.event));
  const events = params.decider.decide(params.command, previous);
  const newVersion = await params.store.append(params.manager, {
    streamId: params.streamId,
    expectedVersion: version,
    events,
    metadata: params.metadata,
  });
  const state = events.reduce((s, e) => params.decider.evolve(s, e), previous);
  return { events, state, version: newVersion, previous };
}
