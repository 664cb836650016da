import { MllpServer } from '@lifeline/hl7';
import type { Logger } from '@lifeline/observability';

import type { IngestGatewayConfig } from '../config/ingest-gateway.config.js';
import type { MllpIngestService } from './mllp-ingest.service.js';

/**
 * Starts the MLLP listener in front of the ingest service: shared by main.ts and the in-process
 * integration tests, so both run the same wiring. Port 0 picks a free port (tests).
 */
export async function startMllpListener(params: {
  config: IngestGatewayConfig;
  ingest: MllpIngestService;
  logger: Logger;
}): Promise<{ server: MllpServer; port: number }> {
  const { config, ingest, logger } = params;
  const server = new MllpServer({
    host: config.mllp.host,
    port: config.mllp.port,
    maxFrameBytes: config.mllp.maxFrameBytes,
    idleTimeoutMs: config.mllp.idleTimeoutMs,
    handler: (msg) => ingest.handle(msg),
    // Never the error itself: a parser error message may quote payload bytes (PHI).
    onError: (err, ctx) =>
      logger.warn(
        { phase: ctx.phase, connection: ctx.connectionId, err: { name: (err as Error | undefined)?.name } },
        'MLLP connection error',
      ),
  });
  const { port } = await server.listen();
  logger.info({ mllp: `${config.mllp.host}:${port}` }, 'MLLP listener started');
  return { server, port };
}
