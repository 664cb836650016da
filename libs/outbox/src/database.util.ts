import { DataSource, type EntitySchema, type MixedList } from 'typeorm';

import { CreateOutboxInbox1764000000000 } from './outbox-inbox.migration.js';
import { InboxEntryEntity, OutboxMessageEntity } from './outbox.entity.js';

type EntityTarget = string | (new (...args: never[]) => unknown) | EntitySchema;
type MigrationClass = new () => unknown;

/**
 * A service's DataSource: its own database, its own migrations table, never `synchronize`. The outbox
 * and inbox entities and migration are always included.
 */
export function createServiceDataSource(params: {
  service: string;
  url: string;
  entities?: EntityTarget[];
  migrations?: MigrationClass[];
  poolSize?: number;
}): DataSource {
  return new DataSource({
    type: 'postgres',
    url: params.url,
    entities: [OutboxMessageEntity, InboxEntryEntity, ...(params.entities ?? [])] as MixedList<EntityTarget>,
    migrations: [CreateOutboxInbox1764000000000, ...(params.migrations ?? [])] as MixedList<MigrationClass>,
    migrationsTableName: `migrations_${params.service.replace(/-/g, '_')}`,
    synchronize: false,
    migrationsRun: false,
    extra: { max: params.poolSize ?? 10, application_name: params.service },
  });
}

/**
 * Runs pending migrations under a PostgreSQL advisory lock: TypeORM has none (typeorm#4588), and two
 * replicas or a job racing a local runner must not both migrate.
 */
export async function migrateUnderLock(dataSource: DataSource, service: string): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock(hashtext($1))', [`lifeline-migrations:${service}`]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [`lifeline-migrations:${service}`]).catch(() => undefined);
    await runner.release();
  }
}
