import { z } from 'zod';

import { loadConfig } from './load-config.js';

const schema = z.object({
  GROUP_COMMIT: z.enum(['on', 'off']).default('on'),
  GROUP_COMMIT_MAX_BATCH: z.coerce.number().int().min(1).max(1_000).default(32),
  // below the default pool (DATABASE_POOL_SIZE 10): the rest stays for reads, single works and the health check
  GROUP_COMMIT_MAX_PARALLEL: z.coerce.number().int().min(1).max(100).default(4),
});

/**
 * Group commit of the service's hops (libs/outbox TransactionBatcher): `GROUP_COMMIT=off` gives one
 * transaction per message; `GROUP_COMMIT_MAX_BATCH` messages at most per transaction,
 * `GROUP_COMMIT_MAX_PARALLEL` batch transactions at once (connections of the pool they may hold).
 */
export function groupCommitEnv(
  service: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): { enabled: boolean; maxBatch: number; maxParallel: number } {
  return loadConfig({
    service,
    schema,
    env: {
      GROUP_COMMIT: env.GROUP_COMMIT || undefined,
      GROUP_COMMIT_MAX_BATCH: env.GROUP_COMMIT_MAX_BATCH || undefined,
      GROUP_COMMIT_MAX_PARALLEL: env.GROUP_COMMIT_MAX_PARALLEL || undefined,
    },
    map: (e) => ({ enabled: e.GROUP_COMMIT === 'on', maxBatch: e.GROUP_COMMIT_MAX_BATCH, maxParallel: e.GROUP_COMMIT_MAX_PARALLEL }),
  });
}
