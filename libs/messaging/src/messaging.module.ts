import {
  Catch,
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type INestApplication,
  type OnApplicationShutdown,
  type RpcExceptionFilter,
} from '@nestjs/common';
import type { MicroserviceOptions } from '@nestjs/microservices';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { throwError, type Observable } from 'rxjs';

import { hostname } from 'node:os';

import { consumerLeasesEnv, retryPoliciesEnv } from '@lifeline/config';
import { createNaming, type Naming, type ServiceName } from '@lifeline/contracts';
import type { Logger } from '@lifeline/observability';

import { JetStreamPublisher } from './jetstream.publisher.js';
import { JetStreamServer } from './jetstream.server.js';
import type { RetryPolicy } from './retry-policy.js';
import { loadRetryPoliciesConfig, type RetryPoliciesConfig } from './retry-policy.config.js';
import type { ConsumerSpec } from '@lifeline/contracts';

export const NATS_CONNECTION = Symbol('NATS_CONNECTION');
export const NATS_NAMING = Symbol('NATS_NAMING');

export interface MessagingModuleOptions {
  service: ServiceName;
  serviceVersion: string;
  natsUrl: string;
  prefix: string;
  logger: Logger;
  retryPolicy?: (spec: ConsumerSpec) => RetryPolicy;
  /** Retry policies as data; default: RETRY_POLICIES_FILE / RETRY_POLICIES from the environment. */
  retryPolicies?: RetryPoliciesConfig;
  consumers?: ConsumerSpec[];
}

/** Drains the connection last, after the transport and the relay have stopped using it. */
@Injectable()
export class NatsConnectionLifecycle implements OnApplicationShutdown {
  constructor(@Inject(NATS_CONNECTION) private readonly nc: NatsConnection) {}

  async onApplicationShutdown(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain();
  }
}

@Module({})
export class MessagingModule {
  static forRoot(options: MessagingModuleOptions): DynamicModule {
    return {
      module: MessagingModule,
      global: true,
      providers: [
        {
          provide: NATS_CONNECTION,
          useFactory: async () =>
            connect({
              servers: options.natsUrl,
              name: options.service,
              maxReconnectAttempts: -1,
              reconnectTimeWait: 1_000,
              // no Error (with a stack) captured per request: ~10k → 15-19k publishes/s (bench/README.md)
              noAsyncTraces: true,
            }),
        },
        { provide: NATS_NAMING, useValue: createNaming(options.prefix) },
        {
          provide: JetStreamPublisher,
          inject: [NATS_CONNECTION, NATS_NAMING],
          useFactory: (nc: NatsConnection, naming: Naming) => new JetStreamPublisher(nc, naming),
        },
        {
          provide: JetStreamServer,
          inject: [NATS_CONNECTION, NATS_NAMING],
          useFactory: (nc: NatsConnection, naming: Naming) =>
            new JetStreamServer({
              nc,
              naming,
              service: options.service,
              serviceVersion: options.serviceVersion,
              logger: options.logger,
              retryPolicy: options.retryPolicy,
              // parsed and validated here so a bad document fails the boot, not the first failure
              retryPolicies: options.retryPolicies ?? loadRetryPoliciesConfig(retryPoliciesEnv()),
              consumers: options.consumers,
              exclusive: exclusiveFromEnv(options.service),
            }),
        },
        NatsConnectionLifecycle,
      ],
      exports: [NATS_CONNECTION, NATS_NAMING, JetStreamPublisher, JetStreamServer],
    };
  }
}

/**
 * Nest's default RPC filter replaces a handler's error with `{ status: 'error' }` and logs it; the
 * transport needs the original (code, retryable) to choose nak or dead-letter, and logs it once itself.
 */
@Catch()
export class PassThroughRpcExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}

/** Attaches the JetStream transport to an HTTP app (health and metrics stay on HTTP). */
export async function connectJetStream(app: INestApplication): Promise<JetStreamServer> {
  const server = app.get(JetStreamServer);
  // deferInitialization: filters can only be registered before the microservice initializes
  const ms = app.connectMicroservice<MicroserviceOptions>({ strategy: server }, { inheritAppConfig: false, deferInitialization: true });
  ms.useGlobalFilters(new PassThroughRpcExceptionFilter());
  await app.startAllMicroservices();
  return server;
}

/** CONSUMER_LEASES=on: one active replica per consumer (ConsumerLeases); the holder is this process. */
function exclusiveFromEnv(service: string): { ttlMs: number; holder: string } | undefined {
  const leases = consumerLeasesEnv(service);
  return leases.enabled ? { ttlMs: leases.ttlMs, holder: `${hostname()}-${process.pid}` } : undefined;
}
