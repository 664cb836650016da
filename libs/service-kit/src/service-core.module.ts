import { Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { DataSource } from 'typeorm';

import { groupCommitEnv, outboxRelayEnv } from '@lifeline/config';
import type { ServiceName } from '@lifeline/contracts';
import { JetStreamPublisher, MessagingModule } from '@lifeline/messaging';
import { METRICS, type Logger } from '@lifeline/observability';
import { OutboxRelay, TransactionBatcher, createServiceDataSource } from '@lifeline/outbox';

import { HealthController } from './health.controller.js';
import { MetricsController } from './metrics.controller.js';
import { ParkedController } from './parked.controller.js';
import { SERVICE_LOGGER, SERVICE_RUNTIME } from './service-core.tokens.js';

// tokens live in their own module so controllers can inject them without an import cycle
export { SERVICE_LOGGER, SERVICE_RUNTIME } from './service-core.tokens.js';
export interface ServiceRuntime {
  relay?: OutboxRelay;
}

export interface DatabaseDefinition {
  url: string;
  poolSize?: number;
  entities?: Array<new (...args: never[]) => unknown>;
  migrations?: Array<new () => unknown>;
}

export interface ServiceCoreOptions {
  service: ServiceName;
  version: string;
  natsUrl: string;
  natsPrefix: string;
  logger: Logger;
  database?: DatabaseDefinition;
  relay?: { pollIntervalMs?: number; maxInFlight?: number };
}

/** Closes the DataSource last, after the transport's in-flight handlers have committed. */
class DataSourceLifecycle implements OnApplicationShutdown {
  constructor(@Inject(DataSource) private readonly ds: DataSource) {}
  async onApplicationShutdown(): Promise<void> {
    if (this.ds.isInitialized) await this.ds.destroy();
  }
}

/**
 * What every Lifeline service stands on: pino logging, the NATS connection with the JetStream
 * transport and publisher, its own PostgreSQL DataSource with the outbox relay, health and metrics.
 */
@Module({})
export class ServiceCoreModule {
  static forRoot(options: ServiceCoreOptions): DynamicModule {
    const providers: DynamicModule['providers'] = [
      { provide: SERVICE_LOGGER, useValue: options.logger },
      {
        provide: SERVICE_RUNTIME,
        inject: [{ token: OutboxRelay, optional: true }],
        useFactory: (relay?: OutboxRelay): ServiceRuntime => ({ relay }),
      },
    ];
    const exports: DynamicModule['exports'] = [SERVICE_LOGGER, SERVICE_RUNTIME];
    const db = options.database;
    if (db) {
      providers.push(
        {
          provide: DataSource,
          useFactory: async () =>
            createServiceDataSource({ service: options.service, url: db.url, poolSize: db.poolSize, entities: db.entities, migrations: db.migrations }).initialize(),
        },
        DataSourceLifecycle,
        {
          // group commit for the handlers' transactions (GROUP_COMMIT=on|off, libs/outbox TransactionBatcher)
          provide: TransactionBatcher,
          inject: [DataSource],
          useFactory: (ds: DataSource) => {
            const gc = groupCommitEnv(options.service);
            return new TransactionBatcher(ds, {
              disabled: !gc.enabled,
              maxBatch: gc.maxBatch,
              // at least one connection of the pool stays free for reads and the health check
              maxParallel: Math.max(1, Math.min(gc.maxParallel, (db.poolSize ?? 10) - 1)),
              onBatch: ({ size, fellBack }) => {
                if (fellBack) METRICS.groupCommitFallbacks.inc();
                else METRICS.groupCommitBatchSize.observe(size);
              },
            });
          },
        },
        {
          provide: OutboxRelay,
          inject: [JetStreamPublisher],
          useFactory: (publisher: JetStreamPublisher) =>
            new OutboxRelay({ databaseUrl: db.url, publisher, logger: options.logger, spans: outboxRelayEnv(options.service).spans, ...options.relay }),
        },
      );
      exports.push(DataSource, OutboxRelay, TransactionBatcher);
    }
    return {
      module: ServiceCoreModule,
      global: true,
      imports: [
        LoggerModule.forRoot({ pinoHttp: { logger: options.logger, autoLogging: false, quietReqLogger: true } }),
        MessagingModule.forRoot({
          service: options.service,
          serviceVersion: options.version,
          natsUrl: options.natsUrl,
          prefix: options.natsPrefix,
          logger: options.logger,
        }),
      ],
      controllers: [HealthController, MetricsController, ParkedController],
      providers,
      exports,
    };
  }
}
