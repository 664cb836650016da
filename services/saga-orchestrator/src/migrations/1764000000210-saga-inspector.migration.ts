import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the saga inspector filters on and what an operator must see without decoding `state`: the
 * patient key (a keyed hash, not an identifier) and why a saga needs attention.
 */
export class SagaInspector1764000000210 implements MigrationInterface {
  name = 'SagaInspector1764000000210';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE saga_instances ADD COLUMN patient_key text, ADD COLUMN attention jsonb');
    await q.query('CREATE INDEX saga_instances_patient ON saga_instances (patient_key) WHERE patient_key IS NOT NULL');
    // Age queries and the oldest-in-flight gauge scan by creation time.
    await q.query('CREATE INDEX saga_instances_created ON saga_instances (status, created_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX saga_instances_created');
    await q.query('DROP INDEX saga_instances_patient');
    await q.query('ALTER TABLE saga_instances DROP COLUMN attention, DROP COLUMN patient_key');
  }
}
