import { createServiceDataSource, migrateUnderLock } from '@lifeline/outbox';

import type { DatabaseDefinition } from './service-core.module.js';

/** Body of every service's `migrate.ts`: run pending migrations under the advisory lock, then exit. */
export async function runServiceMigrations(service: string, db: DatabaseDefinition): Promise<void> {
  const ds = createServiceDataSource({ service, url: db.url, entities: db.entities, migrations: db.migrations, poolSize: 2 });
  await ds.initialize();
  try {
    const applied = await migrateUnderLock(ds, service);
    process.stdout.write(`${JSON.stringify({ service, migrations: applied })}\n`);
  } finally {
    await ds.destroy();
  }
}
