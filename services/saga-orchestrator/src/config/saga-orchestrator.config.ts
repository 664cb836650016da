import { z } from 'zod';

import { COMMON_ENV, DATABASE_ENV, loadConfig, mapCommon, type CommonConfig } from '@lifeline/config';

const HOUR_MS = 3_600_000;

const schema = z.object({
  ...COMMON_ENV,
  ...DATABASE_ENV,
  /** How long a routine order may wait for its result before the clinician is told it is overdue. */
  ROUTINE_RESULT_DEADLINE_MS: z.coerce.number().int().min(1).default(24 * HOUR_MS),
  STAT_RESULT_DEADLINE_MS: z.coerce.number().int().min(1).default(HOUR_MS),
  /** Deadline poll period; a deadline fires at most this late. */
  DEADLINE_POLL_MS: z.coerce.number().int().min(10).default(1_000),
});

export interface SagaOrchestratorConfig extends CommonConfig {
  db: { url: string; poolSize: number };
  deadlines: { routineResultMs: number; statResultMs: number };
  deadlinePollMs: number;
}

export function loadSagaOrchestratorConfig(env?: Record<string, string | undefined>): SagaOrchestratorConfig {
  return loadConfig({
    service: 'saga-orchestrator',
    schema,
    env,
    map: (e) => ({
      ...mapCommon(e),
      db: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE },
      deadlines: { routineResultMs: e.ROUTINE_RESULT_DEADLINE_MS, statResultMs: e.STAT_RESULT_DEADLINE_MS },
      deadlinePollMs: e.DEADLINE_POLL_MS,
    }),
  });
}
