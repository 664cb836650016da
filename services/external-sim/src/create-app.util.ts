import { NestFactory } from '@nestjs/core';
import type { LoggerService } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';

import { AppModule } from './app.module.js';
import type { ExternalSimConfig } from './config/external-sim.config.js';

// External systems accept modest payloads; a larger one is a client bug worth a 413.
const JSON_BODY_LIMIT = '256kb';

/** Builds the app exactly as main.ts runs it; tests use it to start real servers on port 0. */
export async function createApp(params: {
  config: ExternalSimConfig;
  logger: LoggerService | false;
}): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.register(params.config),
    {
      bodyParser: false,
      logger: params.logger,
    },
  );
  app.useBodyParser('json', { limit: JSON_BODY_LIMIT });
  app.disable('x-powered-by');
  return app;
}
