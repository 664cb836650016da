import pg from 'pg';

import { withDatabase } from './postgres-server.mjs';
import { testAdminDatabaseUrl } from './test-env.js';
import { uniquePrefix } from './unique-prefix.js';

export interface TestDatabase {
  /** Database name, e.g. `t_orders_k3j9x0`. */
  readonly name: string;
  /** Same server and credentials as the admin URL, this database. */
  readonly url: string;
  /** Terminates its connections and drops it; safe to call twice. */
  drop(): Promise<void>;
}

// CREATE DATABASE copies template1 and fails while anyone else is connected to it (55006).
const OBJECT_IN_USE = '55006';

/**
 * Creates an empty database with a unique name on the run's PostgreSQL (one per spec file, STYLE.md §4).
 * Run the service's migrations against `url` afterwards.
 */
export async function createTestDatabase(label: string, adminUrl: string = testAdminDatabaseUrl()): Promise<TestDatabase> {
  const name = uniquePrefix(label).replace(/-/g, '_');
  await withAdmin(adminUrl, async (client) => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await client.query(`CREATE DATABASE "${name}"`);
        return;
      } catch (err) {
        if (!(isPgError(err) && err.code === OBJECT_IN_USE && attempt < 20)) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  });
  return {
    name,
    url: withDatabase(adminUrl, name),
    drop: () =>
      withAdmin(adminUrl, async (client) => {
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await client.query(`DROP DATABASE IF EXISTS "${name}"`);
      }),
  };
}

async function withAdmin(url: string, work: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

function isPgError(err: unknown): err is Error & { code: string } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string';
}
