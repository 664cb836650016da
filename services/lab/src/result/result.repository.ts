import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

import type { Observation } from '@lifeline/contracts';

export interface ResultRecord {
  resultId: string;
  orderId: string;
  resultStatus: string;
  critical: boolean;
  criticalCodes: string[];
  observations: Observation[];
}

/** A result without its observation values: what leaves the service over HTTP. */
export interface ResultSummary {
  resultId: string;
  orderId: string;
  resultStatus: string;
  critical: boolean;
  criticalCodes: string[];
  observationCount: number;
  receivedAt: string;
}

interface SummaryRow {
  result_id: string;
  order_id: string;
  result_status: string;
  critical: boolean;
  critical_codes: string[];
  observation_count: number;
  received_at: Date;
}

/** I/O only: the results table. Every call takes the caller's EntityManager. */
@Injectable()
export class ResultRepository {
  /** False when this result version is already recorded. */
  async insert(manager: EntityManager, r: ResultRecord): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `INSERT INTO results (result_id, order_id, result_status, critical, critical_codes, observation_count, observations)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb) ON CONFLICT (result_id) DO NOTHING RETURNING 1`,
      [
        r.resultId,
        r.orderId,
        r.resultStatus,
        r.critical,
        JSON.stringify(r.criticalCodes),
        r.observations.length,
        JSON.stringify(r.observations),
      ],
    );
    return rows.length === 1;
  }

  async findByOrderId(
    manager: EntityManager,
    orderId: string,
  ): Promise<ResultSummary[]> {
    const rows: SummaryRow[] = await manager.query(
      `SELECT result_id, order_id, result_status, critical, critical_codes, observation_count, received_at
       FROM results WHERE order_id = $1 ORDER BY received_at, result_id LIMIT 100`,
      [orderId],
    );
    return rows.map((r) => ({
      resultId: r.result_id,
      orderId: r.order_id,
      resultStatus: r.result_status,
      critical: r.critical,
      criticalCodes: r.critical_codes,
      observationCount: r.observation_count,
      receivedAt: r.received_at.toISOString(),
    }));
  }
}
