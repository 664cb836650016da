import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

import type { PlacedLabOrder } from './lab-order.decider.js';

export interface OrderSummary {
  orderId: string;
  placerOrderNumber: string;
  placerNamespace: string | null;
  status: string;
  priority: string;
  patientKey: string;
  lisOrderId: string | null;
  cancelRequested: boolean;
  version: number;
  updatedAt: string;
}

interface SummaryRow {
  order_id: string;
  placer_order_number: string;
  placer_namespace: string | null;
  status: string;
  priority: string;
  patient_key: string;
  lis_order_id: string | null;
  cancel_requested: boolean;
  version: number;
  updated_at: Date;
}

const COLUMNS = 'order_id, placer_order_number, placer_namespace, status, priority, patient_key, lis_order_id, cancel_requested, version, updated_at';

function toSummary(r: SummaryRow): OrderSummary {
  return {
    orderId: r.order_id,
    placerOrderNumber: r.placer_order_number,
    placerNamespace: r.placer_namespace,
    status: r.status,
    priority: r.priority,
    patientKey: r.patient_key,
    lisOrderId: r.lis_order_id,
    cancelRequested: r.cancel_requested,
    version: r.version,
    updatedAt: r.updated_at.toISOString(),
  };
}

/** I/O only: the projection table. Every call takes the caller's EntityManager. */
@Injectable()
export class OrderRepository {
  async upsertSummary(manager: EntityManager, state: PlacedLabOrder & { placerNamespace?: string }, version: number): Promise<void> {
    await manager.query(
      `INSERT INTO order_summaries (order_id, placer_order_number, placer_namespace, status, priority, patient_key, lis_order_id, cancel_requested, version, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
       ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, lis_order_id = EXCLUDED.lis_order_id,
         cancel_requested = EXCLUDED.cancel_requested, version = EXCLUDED.version, updated_at = now()
       WHERE order_summaries.version < EXCLUDED.version`,
      [state.orderId, state.placerOrderNumber, state.placerNamespace ?? null, state.status, state.priority, state.patientKey, state.lisOrderId ?? null, state.cancelRequested, version],
    );
  }

  async findById(manager: EntityManager, orderId: string): Promise<OrderSummary | undefined> {
    const rows: SummaryRow[] = await manager.query(`SELECT ${COLUMNS} FROM order_summaries WHERE order_id = $1`, [orderId]);
    return rows[0] ? toSummary(rows[0]) : undefined;
  }

  async findByPlacerOrderNumber(manager: EntityManager, placerOrderNumber: string): Promise<OrderSummary[]> {
    const rows: SummaryRow[] = await manager.query(`SELECT ${COLUMNS} FROM order_summaries WHERE placer_order_number = $1 ORDER BY order_id LIMIT 100`, [placerOrderNumber]);
    return rows.map(toSummary);
  }
}
