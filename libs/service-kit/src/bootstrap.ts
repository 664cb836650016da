import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger as PinoNestLogger } from 'nestjs-pino';

import { connectJetStream } from '@lifeline/messaging';
import { collectProcessMetrics, stopTelemetry, type Logger } from '@lifeline/observability';

import { AppErrorHttpFilter, type StatusTable } from './app-error.filter.js';
import { SERVICE_RUNTIME, type ServiceRuntime } from './service-core.module.js';

export interface BootstrapOptions {
  service: string;
  module: Type<unknown> | DynamicModule;
  logger: Logger;
  http: { host: string; port: number };
  /** Start the JetStream consumers (services with @EventPattern handlers). */
  consumes: boolean;
  statusTable?: StatusTable;
  /** Runs after HTTP listens (e.g. the MLLP listener); its result is closed first on shutdown. */
  afterStart?: (app: INestApplication) => Promise<{ close(): Promise<void> } | void>;
}

/**
 * Starts a service and wires an orderly shutdown on SIGTERM/SIGINT: stop intake (MLLP, consumers, with
 * in-flight handlers finishing), flush the outbox once more, close HTTP, NATS and PostgreSQL, flush spans.
 */
export async function bootstrapService(options: BootstrapOptions): Promise<INestApplication> {
  const { logger } = options;
  collectProcessMetrics(options.service);
  const app = await NestFactory.create(options.module, { bufferLogs: true, abortOnError: false });
  app.useLogger(app.get(PinoNestLogger));
  app.useGlobalFilters(new AppErrorHttpFilter(options.statusTable ?? {}, logger));
  app.enableShutdownHooks([]);

  const { relay } = app.get<ServiceRuntime>(SERVICE_RUNTIME);
  await relay?.start();
  const server = options.consumes ? await connectJetStream(app) : undefined;
  await app.listen(options.http.port, options.http.host);
  const extra = (await options.afterStart?.(app)) ?? undefined;

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      await extra?.close();
      await server?.close();
      await relay?.stop();
      await app.close();
      await stopTelemetry();
    } catch (err) {
      logger.error({ err: { name: (err as Error).name } }, 'shutdown error');
    } finally {
      logger.flush();
      process.exit(0);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  logger.info({ http: `http://${options.http.host}:${options.http.port}` }, 'service started');
  return app;
}
