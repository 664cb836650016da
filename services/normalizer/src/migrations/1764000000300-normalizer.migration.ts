import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the normalizer keeps of every raw message: the transport record (bytes as received), the
 * parsed form and the validation outcome. Refused messages stay here and in the DLQ, never lost.
 */
export class CreateNormalizerTables1764000000300 implements MigrationInterface {
  name = 'CreateNormalizerTables1764000000300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE transport_records (
        idempotency_key text PRIMARY KEY,
        ingest_message_id text NOT NULL,
        ingest_sequence bigint NOT NULL,
        sending_application text,
        sending_facility text,
        control_id text,
        message_type text,
        sha256 text NOT NULL,
        raw text NOT NULL,
        received_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX transport_records_control_id ON transport_records (control_id)');
    await q.query(`
      CREATE TABLE parsed_messages (
        idempotency_key text PRIMARY KEY REFERENCES transport_records (idempotency_key),
        outcome text NOT NULL,
        error_code text,
        error_field text,
        event_types jsonb NOT NULL DEFAULT '[]'::jsonb,
        segments jsonb,
        processed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX parsed_messages_outcome ON parsed_messages (outcome, processed_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE parsed_messages');
    await q.query('DROP TABLE transport_records');
  }
}
