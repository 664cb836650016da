import type { DatabaseDefinition } from '@lifeline/service-kit';

import type { SagaOrchestratorConfig } from './config/saga-orchestrator.config.js';
import { CreateSagaTables1764000000200 } from './migrations/1764000000200-saga.migration.js';
import { SagaInspector1764000000210 } from './migrations/1764000000210-saga-inspector.migration.js';

/** In order; the integration specs migrate with the same list. */
export const SAGA_MIGRATIONS = [CreateSagaTables1764000000200, SagaInspector1764000000210];

export function sagaOrchestratorDatabase(config: SagaOrchestratorConfig): DatabaseDefinition {
  return { url: config.db.url, poolSize: config.db.poolSize, migrations: SAGA_MIGRATIONS };
}
