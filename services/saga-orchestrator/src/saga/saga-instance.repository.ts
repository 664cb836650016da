import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** A saga row as stored; `state` is the saga type's own state, written only by its runner. */
export interface StoredSaga {
  sagaId: string;
  sagaType: string;
  orderId: string;
  status: string;
  state: unknown;
  version: number;
  deadlineAt: string | null;
  deadlineKind: string | null;
  /** Keyed hash of the patient (never the identifier): the inspector's patient filter. */
  patientKey: string | null;
  /** Why a human must look (needs-attention, billing failed); null when nothing is wrong. */
  attention: unknown;
  createdAt: string;
  updatedAt: string;
}

/** Inspector filters; all optional and combined with AND. */
export interface SagaListFilter {
  status?: string;
  orderId?: string;
  patientKey?: string;
  /** Only sagas created at least this many seconds ago. */
  minAgeSeconds?: number;
  /** Only sagas not yet in one of these statuses (in flight). */
  excludeStatuses?: string[];
  limit: number;
}

export type SagaSummary = Omit<StoredSaga, 'state' | 'deadlineKind'>;

/** undefined = leave as is, null = clear, object = arm. */
export type DeadlineChange = { at: string; kind: string } | null | undefined;

export interface SagaHistoryEntry {
  sagaId: string;
  version: number;
  inputType: string;
  messageId: string | null;
  fromStatus: string | null;
  toStatus: string;
  commands: Array<{ subject: string; commandId: string }>;
  events: string[];
  ignored: string | null;
  traceId: string | null;
}

export interface SagaHistoryRecord extends Omit<SagaHistoryEntry, 'sagaId'> {
  id: string;
  at: string;
}

export interface DueDeadline {
  sagaId: string;
  deadlineAt: string;
  deadlineKind: string | null;
}

interface InstanceRow {
  saga_id: string;
  saga_type: string;
  order_id: string;
  status: string;
  state: unknown;
  version: number;
  deadline_at: Date | null;
  deadline_kind: string | null;
  patient_key: string | null;
  attention: unknown;
  created_at: Date;
  updated_at: Date;
}

interface HistoryRow {
  id: string;
  version: number;
  input_type: string;
  message_id: string | null;
  from_status: string | null;
  to_status: string;
  commands: SagaHistoryEntry['commands'];
  events: string[];
  ignored: string | null;
  trace_id: string | null;
  at: Date;
}

const INSTANCE_COLUMNS =
  'saga_id, saga_type, order_id, status, state, version, deadline_at, deadline_kind, patient_key, attention, created_at, updated_at';
const SUMMARY_COLUMNS = 'saga_id, saga_type, order_id, status, version, deadline_at, patient_key, attention, created_at, updated_at';

function toStored(r: InstanceRow): StoredSaga {
  return { ...toSummary(r), state: r.state, deadlineKind: r.deadline_kind };
}

function toSummary(r: Omit<InstanceRow, 'state' | 'deadline_kind'>): SagaSummary {
  return {
    sagaId: r.saga_id,
    sagaType: r.saga_type,
    orderId: r.order_id,
    status: r.status,
    version: r.version,
    deadlineAt: r.deadline_at?.toISOString() ?? null,
    patientKey: r.patient_key,
    attention: r.attention ?? null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

function toHistory(r: HistoryRow): SagaHistoryRecord {
  return {
    id: r.id,
    version: r.version,
    inputType: r.input_type,
    messageId: r.message_id,
    fromStatus: r.from_status,
    toStatus: r.to_status,
    commands: r.commands,
    events: r.events,
    ignored: r.ignored,
    traceId: r.trace_id,
    at: r.at.toISOString(),
  };
}

/** I/O only: saga instances and their history. Every call takes the caller's EntityManager. */
@Injectable()
export class SagaInstanceRepository {
  /**
   * The saga row; with `lock` it is row-locked until the transaction ends, so two replicas never
   * advance the same saga from the same version.
   */
  async find(manager: EntityManager, sagaId: string, { lock }: { lock: boolean }): Promise<StoredSaga | undefined> {
    const rows: InstanceRow[] = await manager.query(
      `SELECT ${INSTANCE_COLUMNS} FROM saga_instances WHERE saga_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [sagaId],
    );
    return rows[0] ? toStored(rows[0]) : undefined;
  }

  /** Inserts a new saga at version 1; false when another transaction created it first. */
  async insert(
    manager: EntityManager,
    saga: {
      sagaId: string;
      sagaType: string;
      orderId: string;
      status: string;
      state: unknown;
      deadline: DeadlineChange;
      patientKey?: string | null;
      attention?: unknown;
    },
  ): Promise<boolean> {
    // ON CONFLICT waits for a concurrent inserter of the same key, then does nothing if it committed.
    const rows: unknown[] = await manager.query(
      `INSERT INTO saga_instances (saga_id, saga_type, order_id, status, state, version, deadline_at, deadline_kind, patient_key, attention)
       VALUES ($1, $2, $3, $4, $5::jsonb, 1, $6, $7, $8, $9::jsonb)
       ON CONFLICT (saga_id) DO NOTHING RETURNING 1 AS inserted`,
      [
        saga.sagaId,
        saga.sagaType,
        saga.orderId,
        saga.status,
        JSON.stringify(saga.state),
        saga.deadline?.at ?? null,
        saga.deadline?.kind ?? null,
        saga.patientKey ?? null,
        saga.attention === undefined || saga.attention === null ? null : JSON.stringify(saga.attention),
      ],
    );
    return rows.length === 1;
  }

  /** Writes the next version; false when the row is no longer at `expectedVersion`. */
  async update(
    manager: EntityManager,
    saga: { sagaId: string; expectedVersion: number; status: string; state: unknown; deadline: DeadlineChange; attention?: unknown },
  ): Promise<boolean> {
    const { deadline } = saga;
    const attention = saga.attention === undefined || saga.attention === null ? null : JSON.stringify(saga.attention);
    // Wrapped in a CTE so the driver returns plain rows (a bare UPDATE yields [rows, rowCount]).
    const rows: unknown[] = await manager.query(
      `WITH updated AS (
         UPDATE saga_instances SET status = $3, state = $4::jsonb, version = version + 1, updated_at = now(),
           deadline_at = CASE WHEN $5::boolean THEN $6::timestamptz ELSE deadline_at END,
           deadline_kind = CASE WHEN $5::boolean THEN $7::text ELSE deadline_kind END,
           attention = $8::jsonb
         WHERE saga_id = $1 AND version = $2
         RETURNING version)
       SELECT version FROM updated`,
      [saga.sagaId, saga.expectedVersion, saga.status, JSON.stringify(saga.state), deadline !== undefined, deadline?.at ?? null, deadline?.kind ?? null, attention],
    );
    return rows.length === 1;
  }

  async appendHistory(manager: EntityManager, e: SagaHistoryEntry): Promise<void> {
    await manager.query(
      `INSERT INTO saga_history (saga_id, version, input_type, message_id, from_status, to_status, commands, events, ignored, trace_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10)`,
      [e.sagaId, e.version, e.inputType, e.messageId, e.fromStatus, e.toStatus, JSON.stringify(e.commands), JSON.stringify(e.events), e.ignored, e.traceId],
    );
  }

  /**
   * Due deadlines, row-locked; rows another transaction holds (a reply being applied, another
   * replica's poller) are skipped and picked up by a later poll if still due.
   */
  async claimDue(manager: EntityManager, limit: number): Promise<DueDeadline[]> {
    const rows: Array<{ saga_id: string; deadline_at: Date; deadline_kind: string | null }> = await manager.query(
      `SELECT saga_id, deadline_at, deadline_kind FROM saga_instances
       WHERE deadline_at <= now() ORDER BY deadline_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    return rows.map((r) => ({ sagaId: r.saga_id, deadlineAt: r.deadline_at.toISOString(), deadlineKind: r.deadline_kind }));
  }

  async findSummary(manager: EntityManager, sagaId: string): Promise<SagaSummary | undefined> {
    const rows: InstanceRow[] = await manager.query(`SELECT ${SUMMARY_COLUMNS} FROM saga_instances WHERE saga_id = $1`, [sagaId]);
    return rows[0] ? toSummary(rows[0]) : undefined;
  }

  async list(manager: EntityManager, filter: SagaListFilter): Promise<SagaSummary[]> {
    const rows: InstanceRow[] = await manager.query(
      `SELECT ${SUMMARY_COLUMNS} FROM saga_instances
       WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR order_id = $2)
         AND ($3::text IS NULL OR patient_key = $3)
         AND ($4::float8 IS NULL OR created_at <= now() - make_interval(secs => $4))
         AND ($5::text[] IS NULL OR NOT (status = ANY($5)))
       ORDER BY updated_at DESC, saga_id LIMIT $6`,
      [filter.status ?? null, filter.orderId ?? null, filter.patientKey ?? null, filter.minAgeSeconds ?? null, filter.excludeStatuses ?? null, filter.limit],
    );
    return rows.map(toSummary);
  }

  /** Age in seconds of the oldest saga not in one of `settled` (0 when none is in flight). */
  async oldestInFlightSeconds(manager: EntityManager, settled: readonly string[]): Promise<number> {
    const rows: Array<{ age: number | null }> = await manager.query(
      'SELECT EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS age FROM saga_instances WHERE NOT (status = ANY($1))',
      [settled],
    );
    return rows[0]?.age ?? 0;
  }

  async history(manager: EntityManager, sagaId: string): Promise<SagaHistoryRecord[]> {
    const rows: HistoryRow[] = await manager.query(
      `SELECT id, version, input_type, message_id, from_status, to_status, commands, events, ignored, trace_id, at
       FROM saga_history WHERE saga_id = $1 ORDER BY id`,
      [sagaId],
    );
    return rows.map(toHistory);
  }

  async countByStatus(manager: EntityManager): Promise<Record<string, number>> {
    const rows: Array<{ status: string; count: string }> = await manager.query('SELECT status, count(*) AS count FROM saga_instances GROUP BY status');
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
  }
}
