import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

import type { NotificationKind } from '@lifeline/contracts';

export interface Delivery {
  notificationId: string;
  sagaId: string;
  orderId: string;
  kind: NotificationKind;
  critical: boolean;
  ehrMessageId: string;
  deliveredAt: string;
}

/** A notification that never reached the EHR inbox; the id is the notify command's id. */
export interface DeliveryFailure {
  notificationId: string;
  sagaId: string;
  orderId: string;
  kind: NotificationKind;
  critical: boolean;
  /** The error code the EHR call ended with (e.g. EHR_REJECTED, EHR_INBOX_UNAVAILABLE). */
  reasonCode: string;
}

interface DeliveryRow {
  notification_id: string;
  saga_id: string;
  order_id: string;
  kind: NotificationKind;
  critical: boolean;
  ehr_message_id: string;
  delivered_at: Date;
}

const COLUMNS =
  'notification_id, saga_id, order_id, kind, critical, ehr_message_id, delivered_at';

function toDelivery(r: DeliveryRow): Delivery {
  return {
    notificationId: r.notification_id,
    sagaId: r.saga_id,
    orderId: r.order_id,
    kind: r.kind,
    critical: r.critical,
    ehrMessageId: r.ehr_message_id,
    deliveredAt: r.delivered_at.toISOString(),
  };
}

/** I/O only: the deliveries table (and a read of the inbox). Every call takes the caller's EntityManager. */
@Injectable()
export class NotificationRepository {
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

  async findById(
    manager: EntityManager,
    notificationId: string,
  ): Promise<Delivery | undefined> {
    const rows: DeliveryRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM deliveries WHERE notification_id = $1`,
      [notificationId],
    );
    return rows[0] ? toDelivery(rows[0]) : undefined;
  }

  async findByOrderId(
    manager: EntityManager,
    orderId: string,
  ): Promise<Delivery[]> {
    const rows: DeliveryRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM deliveries WHERE order_id = $1 ORDER BY delivered_at LIMIT 100`,
      [orderId],
    );
    return rows.map(toDelivery);
  }

  /** Whether this notification is already recorded as failed (answered, like a delivery). */
  async isFailed(
    manager: EntityManager,
    notificationId: string,
  ): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      'SELECT 1 FROM delivery_failures WHERE notification_id = $1',
      [notificationId],
    );
    return rows.length > 0;
  }

  /** False when this failure is already recorded. */
  async insertFailure(
    manager: EntityManager,
    f: DeliveryFailure,
  ): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `INSERT INTO delivery_failures (notification_id, saga_id, order_id, kind, critical, reason_code, failed_at)
       VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT (notification_id) DO NOTHING RETURNING 1`,
      [f.notificationId, f.sagaId, f.orderId, f.kind, f.critical, f.reasonCode],
    );
    return rows.length === 1;
  }

  /** False when this notification is already recorded. */
  async insert(manager: EntityManager, d: Delivery): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `INSERT INTO deliveries (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (notification_id) DO NOTHING RETURNING 1`,
      [
        d.notificationId,
        d.sagaId,
        d.orderId,
        d.kind,
        d.critical,
        d.ehrMessageId,
        d.deliveredAt,
      ],
    );
    return rows.length === 1;
  }
}
