import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Saga instances (current state, optimistic version, one durable deadline) and their transition
 * history. The state holds what the saga's commands need (patient reference included): this is the
 * orchestrator's own database.
 */
export class CreateSagaTables1764000000200 implements MigrationInterface {
  name = 'CreateSagaTables1764000000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE saga_instances (
        saga_id text PRIMARY KEY,
        saga_type text NOT NULL,
        order_id text NOT NULL,
        status text NOT NULL,
        state jsonb NOT NULL,
        version int NOT NULL,
        deadline_at timestamptz,
        deadline_kind text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX saga_instances_status ON saga_instances (status, updated_at)');
    // The deadline poller only reads armed deadlines: the partial index stays small.
    await q.query('CREATE INDEX saga_instances_deadline ON saga_instances (deadline_at) WHERE deadline_at IS NOT NULL');
    await q.query('CREATE INDEX saga_instances_order ON saga_instances (order_id)');
    await q.query(`
      CREATE TABLE saga_history (
        id bigserial PRIMARY KEY,
        saga_id text NOT NULL,
        version int NOT NULL,
        input_type text NOT NULL,
        message_id text,
        from_status text,
        to_status text NOT NULL,
        commands jsonb NOT NULL,
        events jsonb NOT NULL,
        ignored text,
        trace_id text,
        at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX saga_history_saga ON saga_history (saga_id, id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE saga_history');
    await q.query('DROP TABLE saga_instances');
  }
}
