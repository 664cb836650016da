import { createLogger } from '@lifeline/observability';
import { bootstrapService } from '@lifeline/service-kit';

import { AppModule } from './app.module.js';
import { loadIngestGatewayConfig } from './config/ingest-gateway.config.js';
import { MllpIngestService } from './mllp/mllp-ingest.service.js';
import { startMllpListener } from './mllp/mllp-listener.util.js';

const config = loadIngestGatewayConfig();
const logger = createLogger({ service: 'ingest-gateway', level: config.log.level });

await bootstrapService({
  service: 'ingest-gateway',
  module: AppModule.forRoot(config, logger),
  logger,
  http: config.http,
  consumes: false,
  afterStart: async (app) => {
    const { server } = await startMllpListener({ config, ingest: app.get(MllpIngestService), logger });
    return server;
  },
});
