import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Outbox and inbox tables. Every service with a database includes this migration. */
export class CreateOutboxInbox1764000000000 implements MigrationInterface {
  name = 'CreateOutboxInbox1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE outbox (
        id uuid PRIMARY KEY,
        seq bigserial NOT NULL,
        aggregate_id text NOT NULL,
        subject text NOT NULL,
        headers jsonb NOT NULL,
        payload jsonb NOT NULL,
        expect_stream text,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        sent_at timestamptz,
        attempts int NOT NULL DEFAULT 0,
        lease_owner text,
        lease_until timestamptz,
        last_error text
      )`);
    // The relay only ever reads unsent rows: partial indexes stay small however long rows are kept.
    await q.query(`CREATE INDEX outbox_unsent_by_aggregate ON outbox (aggregate_id, seq) WHERE sent_at IS NULL`);
    await q.query(`CREATE INDEX outbox_unsent_by_seq ON outbox (seq) WHERE sent_at IS NULL`);
    await q.query(`CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL`);
    await q.query(`
      CREATE TABLE inbox (
        consumer text NOT NULL,
        message_id text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, message_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE inbox');
    await q.query('DROP TABLE outbox');
  }
}
