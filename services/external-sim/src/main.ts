import type { AddressInfo } from 'node:net';

import { pino } from 'pino';

import { describeError } from '@lifeline/errors';

import { loadExternalSimConfig } from './config/external-sim.config.js';
import { createApp } from './create-app.util.js';
import { PinoNestLogger } from './logging/pino-nest-logger.util.js';

const SERVICE = 'external-sim';

async function bootstrap(): Promise<void> {
  const config = loadExternalSimConfig();
  const log = pino({
    level: config.log.level,
    base: { service: SERVICE, version: config.version },
  });
  const app = await createApp({ config, logger: new PinoNestLogger(log) });
  app.enableShutdownHooks();
  await app.listen(config.http.port, config.http.host);
  // The bound port, not the configured one: HTTP_PORT=0 picks a free port.
  const { address, port } = app.getHttpServer().address() as AddressInfo;
  log.info({ host: address, port, env: config.env }, 'external-sim listening');
}

bootstrap().catch((err: unknown) => {
  // Config errors name the bad keys (never values); print them as one JSON line and fail.
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', service: SERVICE, err: describeError(err) })}\n`,
  );
  process.exitCode = 1;
});
