import type { DatabaseDefinition } from '@lifeline/service-kit';

import type { SagaOrchestratorConfig } from './config/saga-orchestrator.config.js';
import { CreateSagaTables1764000000200 } from './migrations/1764000000200-saga.migration.js';

export function sagaOrchestratorDatabase(config: SagaOrchestratorConfig): DatabaseDefinition {
  return { url: config.db.url, poolSize: config.db.poolSize, migrations: [CreateSagaTables1764000000200] };
}
