import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One row per order's charge at the billing system. The create command id is the charge's
 * Idempotency-Key; the order id is unique because an order is billed at most once.
 */
export class CreateCharges1764000000700 implements MigrationInterface {
  name = 'CreateCharges1764000000700';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE charges (
        order_id text PRIMARY KEY,
        saga_id text NOT NULL,
        create_command_id text NOT NULL,
        charge_id text NOT NULL UNIQUE,
        status text NOT NULL,
        void_command_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        voided_at timestamptz
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE charges');
  }
}
