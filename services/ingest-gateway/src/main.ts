import { MllpServer } from '@lifeline/hl7';
import { createLogger } from '@lifeline/observability';
import { bootstrapService } from '@lifeline/service-kit';

import { AppModule } from './app.module.js';
import { loadIngestGatewayConfig } from './config/ingest-gateway.config.js';
import { MllpIngestService } from './mllp/mllp-ingest.service.js';

const config = loadIngestGatewayConfig();
const logger = createLogger({ service: 'ingest-gateway', level: config.log.level });

await bootstrapService({
  service: 'ingest-gateway',
  module: AppModule.forRoot(config, logger),
  logger,
  http: config.http,
  consumes: false,
  afterStart: async (app) => {
    const ingest = app.get(MllpIngestService);
    const mllp = new MllpServer({
      host: config.mllp.host,
      port: config.mllp.port,
      maxFrameBytes: config.mllp.maxFrameBytes,
      idleTimeoutMs: config.mllp.idleTimeoutMs,
      handler: (msg) => ingest.handle(msg),
      onError: (err, ctx) => logger.warn({ phase: ctx.phase, connection: ctx.connectionId, err: { name: (err as Error)?.name } }, 'MLLP connection error'),
    });
    const { port } = await mllp.listen();
    logger.info({ mllp: `${config.mllp.host}:${port}` }, 'MLLP listener started');
    return mllp;
  },
});
