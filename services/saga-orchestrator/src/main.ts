import { createLogger } from '@lifeline/observability';
import { bootstrapService } from '@lifeline/service-kit';

import { AppModule } from './app.module.js';
import { loadSagaOrchestratorConfig } from './config/saga-orchestrator.config.js';

const config = loadSagaOrchestratorConfig();
const logger = createLogger({ service: 'saga-orchestrator', level: config.log.level });

await bootstrapService({
  service: 'saga-orchestrator',
  module: AppModule.forRoot(config, logger),
  logger,
  http: config.http,
  consumes: true,
  statusTable: { SAGA_NOT_FOUND: 404, SAGA_QUERY_INVALID: 400 },
});
