import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One row per notification that never reached the EHR inbox (refused, or unavailable past the retry
 * budget). Kept apart from `deliveries`, whose rows all carry an EHR message id and a delivery time.
 */
export class CreateDeliveryFailures1764000000610 implements MigrationInterface {
  name = 'CreateDeliveryFailures1764000000610';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE delivery_failures (
        notification_id text PRIMARY KEY,
        saga_id text NOT NULL,
        order_id text NOT NULL,
        kind text NOT NULL,
        critical boolean NOT NULL,
        reason_code text NOT NULL,
        failed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX delivery_failures_order_id ON delivery_failures (order_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE delivery_failures');
  }
}
