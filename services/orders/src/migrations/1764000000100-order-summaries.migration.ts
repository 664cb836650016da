import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Read model of the LabOrder streams, updated in the same transaction as the events. */
export class CreateOrderSummaries1764000000100 implements MigrationInterface {
  name = 'CreateOrderSummaries1764000000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE order_summaries (
        order_id text PRIMARY KEY,
        placer_order_number text NOT NULL,
        placer_namespace text,
        status text NOT NULL,
        priority text NOT NULL,
        patient_key text NOT NULL,
        lis_order_id text,
        cancel_requested boolean NOT NULL DEFAULT false,
        version int NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX order_summaries_placer ON order_summaries (placer_order_number)');
    await q.query('CREATE INDEX order_summaries_status ON order_summaries (status, updated_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE order_summaries');
  }
}
