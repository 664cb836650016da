import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { MicroserviceOptions } from '@nestjs/microservices';
import { connect, type NatsConnection } from '@nats-io/transport-node';

import { testNatsUrl } from '@lifeline/testing';

import { JetStreamServer, type JetStreamServerOptions } from './jetstream.server.js';
import { PassThroughRpcExceptionFilter } from './messaging.module.js';

export interface ConsumerProcess {
  app: INestMicroservice;
  /** Its own connection: closing it is how a test kills the process (no acks, no renewals). */
  conn: NatsConnection;
}

// A fixture for the int specs (`.fixture.spec.ts`: no test tier runs it, the build leaves it out).

/**
 * A consumer "process" for restart and replica specs: its own NATS connection, JetStreamServer and Nest
 * microservice around `module`, as a pod would have. The caller closes `app`, then `conn`.
 */
export async function startConsumerProcess(module: unknown, options: Omit<JetStreamServerOptions, 'nc'>): Promise<ConsumerProcess> {
  const conn = await connect({ servers: testNatsUrl() });
  const server = new JetStreamServer({ ...options, nc: conn });
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(module as never, { strategy: server, logger: false });
  app.useGlobalFilters(new PassThroughRpcExceptionFilter());
  await app.listen();
  return { app, conn };
}
