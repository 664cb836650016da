import type { EntityManager } from 'typeorm';

/** At most this many rows per statement: PostgreSQL takes up to 65,535 parameters per statement. */
const ROWS_PER_STATEMENT = 1_000;

/**
 * Multi-row `INSERT INTO table (columns) VALUES (...), (...)`: one round trip per 1,000 rows instead of
 * one per row. `columns` pairs each column with its parameter cast ('' for none, e.g. '::jsonb').
 */
export async function insertRows(manager: EntityManager, table: string, columns: ReadonlyArray<readonly [name: string, cast: string]>, rows: ReadonlyArray<readonly unknown[]>): Promise<void> {
  const width = columns.length;
  const names = columns.map(([name]) => name).join(', ');
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
    const values: unknown[] = [];
    const tuples = rows.slice(start, start + ROWS_PER_STATEMENT).map((row, i) => {
      values.push(...row);
      return `(${columns.map(([, cast], c) => `$${i * width + c + 1}${cast}`).join(', ')})`;
    });
    await manager.query(`INSERT INTO ${table} (${names}) VALUES ${tuples.join(', ')}`, values);
  }
}
