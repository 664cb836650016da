import type { MigrationInterface, QueryRunner } from 'typeorm';

/** One row per notification the EHR inbox accepted; the notification id is the notify command's id. */
export class CreateDeliveries1764000000600 implements MigrationInterface {
  name = 'CreateDeliveries1764000000600';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE deliveries (
        notification_id text PRIMARY KEY,
        saga_id text NOT NULL,
        order_id text NOT NULL,
        kind text NOT NULL,
        critical boolean NOT NULL,
        ehr_message_id text NOT NULL,
        delivered_at timestamptz NOT NULL
      )`);
    await q.query('CREATE INDEX deliveries_order_id ON deliveries (order_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE deliveries');
  }
}
