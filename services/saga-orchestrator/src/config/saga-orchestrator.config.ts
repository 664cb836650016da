import { z } from 'zod';

import { COMMON_ENV, DATABASE_ENV, loadConfig, mapCommon, type CommonConfig } from '@lifeline/config';

const HOUR_MS = 3_600_000;

const schema = z.object({
  ...COMMON_ENV,
  ...DATABASE_ENV,
  /** How long a routine order may wait for its result before the clinician is told it is overdue. */
  ROUTINE_RESULT_DEADLINE_MS: z.coerce.number().int().min(1).default(24 * HOUR_MS),
  STAT_RESULT_DEADLINE_MS: z.coerce.number().int().min(1).default(HOUR_MS),
  /** What an overdue result does besides telling the clinician: keep waiting, or cancel the order. */
  RESULT_OVERDUE_POLICY: z.enum(['escalate', 'cancel']).default('escalate'),
  /** Deadline poll period; a deadline fires at most this late. */
  DEADLINE_POLL_MS: z.coerce.number().int().min(10).default(1_000),
  /**
   * UNSAFE, crash-test negative control only: commands bypass the outbox and are published directly,
   * which duplicates or loses effects under crashes. Refused in production.
   */
  UNSAFE_PUBLISH_COMMANDS_DIRECTLY: z.enum(['true', 'false']).default('false'),
}).refine((e) => e.NODE_ENV !== 'production' || e.UNSAFE_PUBLISH_COMMANDS_DIRECTLY === 'false', {
  message: 'UNSAFE_PUBLISH_COMMANDS_DIRECTLY is refused in production',
  path: ['UNSAFE_PUBLISH_COMMANDS_DIRECTLY'],
});

export interface SagaOrchestratorConfig extends CommonConfig {
  db: { url: string; poolSize: number };
  deadlines: { routineResultMs: number; statResultMs: number; onOverdue: 'escalate' | 'cancel' };
  deadlinePollMs: number;
  unsafePublishCommandsDirectly: boolean;
}

export function loadSagaOrchestratorConfig(env?: Record<string, string | undefined>): SagaOrchestratorConfig {
  return loadConfig({
    service: 'saga-orchestrator',
    schema,
    env,
    map: (e) => ({
      ...mapCommon(e),
      db: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE },
      deadlines: {
        routineResultMs: e.ROUTINE_RESULT_DEADLINE_MS,
        statResultMs: e.STAT_RESULT_DEADLINE_MS,
        onOverdue: e.RESULT_OVERDUE_POLICY,
      },
      deadlinePollMs: e.DEADLINE_POLL_MS,
      unsafePublishCommandsDirectly: e.UNSAFE_PUBLISH_COMMANDS_DIRECTLY === 'true',
    }),
  });
}
