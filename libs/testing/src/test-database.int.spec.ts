// Real PostgreSQL from the run's harness (globalSetup); nothing mocked.
import { describe, expect, it } from '@jest/globals';
import pg from 'pg';

import { createTestDatabase } from './test-database.js';
import { testAdminDatabaseUrl, testNatsUrl } from './test-env.js';

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

describe('harness env in Jest workers', () => {
  it('exposes the URLs set by globalSetup', () => {
    expect(testNatsUrl()).toMatch(/^nats:\/\//);
    expect(testAdminDatabaseUrl()).toMatch(/^postgres(ql)?:\/\//);
    expect(process.env.LIFELINE_TEST_HARNESS_FILE).toMatch(/lifeline-test-/);
  });
});

describe('createTestDatabase', () => {
  it('creates a uniquely named empty database reachable at its url, and drops it', async () => {
    const first = await createTestDatabase('Orders Service');
    const second = await createTestDatabase('Orders Service');
    try {
      expect(first.name).toMatch(/^t_orders_servi_[a-z0-9]{6}$/);
      expect(second.name).not.toBe(first.name);
      const [row] = await query<{ db: string }>(first.url, 'SELECT current_database() AS db');
      expect(row?.db).toBe(first.name);
    } finally {
      await second.drop();
    }

    // drop() must also work while a client (a leaked pool, a crashed service) is still connected
    const lingering = new pg.Client({ connectionString: first.url });
    lingering.on('error', () => undefined);
    await lingering.connect();
    await first.drop();
    await first.drop();
    await lingering.end().catch(() => undefined);

    const left = await query(testAdminDatabaseUrl(), 'SELECT 1 FROM pg_database WHERE datname = ANY($1)', [[first.name, second.name]]);
    expect(left).toHaveLength(0);
  });

  it('creates databases concurrently', async () => {
    const dbs = await Promise.all(Array.from({ length: 4 }, (_, i) => createTestDatabase(`par-${i}`)));
    try {
      expect(new Set(dbs.map((d) => d.name)).size).toBe(4);
    } finally {
      await Promise.all(dbs.map((d) => d.drop()));
    }
  });
});
