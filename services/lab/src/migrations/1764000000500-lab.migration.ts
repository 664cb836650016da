import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the lab service knows: one row per lab order as the LIS answered it (the LIS order id is what
 * a cancel needs), and every recorded result with its critical flag.
 */
export class CreateLabTables1764000000500 implements MigrationInterface {
  name = 'CreateLabTables1764000000500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE lis_orders (
        order_id text PRIMARY KEY,
        saga_id text NOT NULL,
        command_id text NOT NULL,
        lis_order_id text,
        status text NOT NULL CHECK (status IN ('accepted', 'rejected', 'cancelled')),
        reason_code text,
        priority text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE results (
        result_id text PRIMARY KEY,
        order_id text NOT NULL,
        result_status text NOT NULL,
        critical boolean NOT NULL,
        critical_codes jsonb NOT NULL DEFAULT '[]'::jsonb,
        observation_count int NOT NULL,
        observations jsonb NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX results_order_id ON results (order_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE results');
    await q.query('DROP TABLE lis_orders');
  }
}
