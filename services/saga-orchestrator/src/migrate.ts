import { runServiceMigrations } from '@lifeline/service-kit';

import { loadSagaOrchestratorConfig } from './config/saga-orchestrator.config.js';
import { sagaOrchestratorDatabase } from './database.js';

await runServiceMigrations('saga-orchestrator', sagaOrchestratorDatabase(loadSagaOrchestratorConfig()));
