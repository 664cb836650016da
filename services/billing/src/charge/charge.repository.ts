import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

export type ChargeStatus = 'posted' | 'voided';

export interface ChargeRecord {
  orderId: string;
  sagaId: string;
  createCommandId: string;
  chargeId: string;
  status: ChargeStatus;
  voidCommandId: string | null;
  createdAt: string;
  voidedAt: string | null;
}

interface ChargeRow {
  order_id: string;
  saga_id: string;
  create_command_id: string;
  charge_id: string;
  status: ChargeStatus;
  void_command_id: string | null;
  created_at: Date;
  voided_at: Date | null;
}

const COLUMNS =
  'order_id, saga_id, create_command_id, charge_id, status, void_command_id, created_at, voided_at';

function toRecord(r: ChargeRow): ChargeRecord {
  return {
    orderId: r.order_id,
    sagaId: r.saga_id,
    createCommandId: r.create_command_id,
    chargeId: r.charge_id,
    status: r.status,
    voidCommandId: r.void_command_id,
    createdAt: r.created_at.toISOString(),
    voidedAt: r.voided_at?.toISOString() ?? null,
  };
}

/** I/O only: the charges table (and a read of the inbox). Every call takes the caller's EntityManager. */
@Injectable()
export class ChargeRepository {
  /** Read-only inbox check before an external call; the claim happens in the effect's transaction. */
  async isApplied(
    manager: EntityManager,
    consumer: string,
    messageKey: string,
  ): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      'SELECT 1 FROM inbox WHERE consumer = $1 AND message_id = $2',
      [consumer, messageKey],
    );
    return rows.length > 0;
  }

  async findByOrderId(
    manager: EntityManager,
    orderId: string,
  ): Promise<ChargeRecord | undefined> {
    const rows: ChargeRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM charges WHERE order_id = $1`,
      [orderId],
    );
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  /** False when the order already has a charge row. */
  async insert(
    manager: EntityManager,
    c: Pick<ChargeRecord, 'orderId' | 'sagaId' | 'createCommandId' | 'chargeId'>,
  ): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `INSERT INTO charges (order_id, saga_id, create_command_id, charge_id, status)
       VALUES ($1, $2, $3, $4, 'posted') ON CONFLICT (order_id) DO NOTHING RETURNING 1`,
      [c.orderId, c.sagaId, c.createCommandId, c.chargeId],
    );
    return rows.length === 1;
  }

  async markVoided(
    manager: EntityManager,
    v: { orderId: string; commandId: string },
  ): Promise<void> {
    await manager.query(
      `UPDATE charges SET status = 'voided', void_command_id = $2, voided_at = now()
       WHERE order_id = $1 AND status = 'posted'`,
      [v.orderId, v.commandId],
    );
  }
}
