import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

export type LisOrderStatus = 'accepted' | 'rejected' | 'cancelled';

export interface LisOrderRecord {
  orderId: string;
  sagaId: string;
  /** The command that produced the current status. */
  commandId: string;
  lisOrderId: string | null;
  status: LisOrderStatus;
  reasonCode: string | null;
  priority: string;
}

export interface LisOrderView extends LisOrderRecord {
  updatedAt: string;
}

interface LisOrderRow {
  order_id: string;
  saga_id: string;
  command_id: string;
  lis_order_id: string | null;
  status: LisOrderStatus;
  reason_code: string | null;
  priority: string;
  updated_at: Date;
}

function toView(r: LisOrderRow): LisOrderView {
  return {
    orderId: r.order_id,
    sagaId: r.saga_id,
    commandId: r.command_id,
    lisOrderId: r.lis_order_id,
    status: r.status,
    reasonCode: r.reason_code,
    priority: r.priority,
    updatedAt: r.updated_at.toISOString(),
  };
}

/** I/O only: the lis_orders table (and a read of the inbox). Every call takes the caller's EntityManager. */
@Injectable()
export class LabOrderRepository {
  /** Read-only inbox check before an external call; the claim itself happens in the effect's transaction. */
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
  ): Promise<LisOrderView | undefined> {
    const rows: LisOrderRow[] = await manager.query(
      'SELECT order_id, saga_id, command_id, lis_order_id, status, reason_code, priority, updated_at FROM lis_orders WHERE order_id = $1',
      [orderId],
    );
    return rows[0] ? toView(rows[0]) : undefined;
  }

  /** False when the order already has a row (the caller decides whether that is a conflict). */
  async insert(manager: EntityManager, r: LisOrderRecord): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `INSERT INTO lis_orders (order_id, saga_id, command_id, lis_order_id, status, reason_code, priority, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, now()) ON CONFLICT (order_id) DO NOTHING RETURNING 1`,
      [
        r.orderId,
        r.sagaId,
        r.commandId,
        r.lisOrderId,
        r.status,
        r.reasonCode,
        r.priority,
      ],
    );
    return rows.length === 1;
  }

  /** Only an accepted order turns cancelled; a cancelled one stays as it is. */
  async markCancelled(
    manager: EntityManager,
    params: { orderId: string; commandId: string },
  ): Promise<void> {
    await manager.query(
      `UPDATE lis_orders SET status = 'cancelled', command_id = $2, updated_at = now() WHERE order_id = $1 AND status = 'accepted'`,
      [params.orderId, params.commandId],
    );
  }
}
