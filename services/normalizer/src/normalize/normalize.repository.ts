import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

export interface TransportRecord {
  idempotencyKey: string;
  ingestMessageId: string;
  ingestSequence: number;
  sendingApplication?: string;
  sendingFacility?: string;
  controlId?: string;
  messageType?: string;
  sha256: string;
  raw: string;
  receivedAt: string;
}

export interface ParsedOutcome {
  idempotencyKey: string;
  outcome: 'mapped' | 'refused' | 'unparseable';
  errorCode?: string;
  errorField?: string;
  eventTypes: string[];
  segments?: unknown;
}

/** I/O only. Both writes are idempotent so a redelivered refusal re-records nothing. */
@Injectable()
export class NormalizeRepository {
  async recordTransport(manager: EntityManager, r: TransportRecord): Promise<void> {
    await manager.query(
      `INSERT INTO transport_records (idempotency_key, ingest_message_id, ingest_sequence, sending_application, sending_facility, control_id, message_type, sha256, raw, received_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (idempotency_key) DO NOTHING`,
      [r.idempotencyKey, r.ingestMessageId, r.ingestSequence, r.sendingApplication ?? null, r.sendingFacility ?? null, r.controlId ?? null, r.messageType ?? null, r.sha256, r.raw, r.receivedAt],
    );
  }

  async recordOutcome(manager: EntityManager, o: ParsedOutcome): Promise<void> {
    await manager.query(
      `INSERT INTO parsed_messages (idempotency_key, outcome, error_code, error_field, event_types, segments)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb) ON CONFLICT (idempotency_key) DO NOTHING`,
      [o.idempotencyKey, o.outcome, o.errorCode ?? null, o.errorField ?? null, JSON.stringify(o.eventTypes), o.segments === undefined ? null : JSON.stringify(o.segments)],
    );
  }

  async outcomeOf(manager: EntityManager, idempotencyKey: string): Promise<ParsedOutcome | undefined> {
    const rows: Array<{ outcome: ParsedOutcome['outcome']; error_code: string | null; error_field: string | null; event_types: string[] }> = await manager.query(
      'SELECT outcome, error_code, error_field, event_types FROM parsed_messages WHERE idempotency_key = $1',
      [idempotencyKey],
    );
    const r = rows[0];
    return r ? { idempotencyKey, outcome: r.outcome, errorCode: r.error_code ?? undefined, errorField: r.error_field ?? undefined, eventTypes: r.event_types } : undefined;
  }
}
