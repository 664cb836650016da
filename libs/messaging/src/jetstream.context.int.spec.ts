import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, Payload, type MicroserviceOptions } from '@nestjs/microservices';
import { connect, type NatsConnection } from '@nats-io/transport-node';

import { createNaming, newEnvelope, type ConsumerSpec, type Envelope, type Naming } from '@lifeline/contracts';
import { AppError } from '@lifeline/errors';
import { createLogger } from '@lifeline/observability';
import { expectEventually, testNatsUrl, uniquePrefix } from '@lifeline/testing';

import { ConsumeEvent, JetStreamContext } from './jetstream.context.js';
import { JetStreamPublisher } from './jetstream.publisher.js';
import { JetStreamServer } from './jetstream.server.js';
import { PassThroughRpcExceptionFilter } from './messaging.module.js';
import { deleteTopology, provisionTopology } from './provision.js';

// A handler that must answer instead of dead-lettering (a failed compensation) asks the transport
// whether this failure would be the last; breaker pauses must never make it so.
const SPEC: ConsumerSpec = {
  durable: 'lab-final-check',
  service: 'lab',
  stream: 'COMMANDS',
  filterSubject: 'cmd.final-check.>',
  maxAttempts: 3,
  ackWaitMs: 30_000,
  concurrency: 2,
};

const seen: Array<{ n: number; delivery: number; final: boolean }> = [];
const transient = (): AppError => new AppError({ code: 'LIS_UNAVAILABLE', retryable: true, message: 'lis down' });
const breakerOpen = (): AppError =>
  new AppError({ code: 'DOWNSTREAM_CIRCUIT_OPEN', retryable: true, kind: 'downstream-unavailable', message: 'open', details: { retryAfterMs: 50 } });

@Controller()
class FinalCheckHandler {
  @ConsumeEvent(SPEC.filterSubject)
  async handle(@Payload() env: Envelope<{ n: number; pauses: number }>, @Ctx() ctx: JetStreamContext): Promise<void> {
    // the first `pauses` deliveries meet an open breaker, the rest a transient error
    const err = ctx.deliveryCount <= env.data.pauses ? breakerOpen() : transient();
    const final = await ctx.wouldDeadLetter(err);
    seen.push({ n: env.data.n, delivery: ctx.deliveryCount, final });
    if (final) return; // answered (e.g. cancel-failed) instead of dead-lettered
    throw err;
  }
}

@Module({ controllers: [FinalCheckHandler] })
class FinalCheckModule {}

describe('JetStreamContext.wouldDeadLetter (real nats-server)', () => {
  let nc: NatsConnection;
  let naming: Naming;
  let app: INestMicroservice;

  beforeAll(async () => {
    nc = await connect({ servers: testNatsUrl() });
    naming = createNaming(uniquePrefix('final-check'));
    await provisionTopology({ nc, naming, consumers: [SPEC] });
    const server = new JetStreamServer({
      nc,
      naming,
      service: 'lab',
      serviceVersion: 'test',
      logger: createLogger({ service: 'test', level: 'silent' }),
      consumers: [SPEC],
      retryPolicies: {
        defaults: {
          classes: {
            transient: { action: 'retry', maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 40, jitter: 'none' },
            'downstream-unavailable': { action: 'pause', maxAttempts: 0, baseDelayMs: 20, maxDelayMs: 50, jitter: 'none' },
          },
        },
      },
    });
    app = await NestFactory.createMicroservice<MicroserviceOptions>(FinalCheckModule, { strategy: server, logger: false });
    app.useGlobalFilters(new PassThroughRpcExceptionFilter());
    await app.listen();
  });

  afterAll(async () => {
    await app.close();
    await deleteTopology({ nc, naming });
    await nc.drain();
  });

  async function send(n: number, pauses: number): Promise<void> {
    const env = newEnvelope({ type: `cmd.final-check.v1`, source: 'test', data: { n, pauses }, idempotencyKey: `final|${n}` });
    await new JetStreamPublisher(nc, naming).publishEnvelope(env);
  }

  it('says final only on the last transient attempt of the budget', async () => {
    await send(1, 0);
    await expectEventually(() => expect(seen.filter((s) => s.n === 1 && s.final)).toHaveLength(1), { timeoutMs: 10_000 });
    expect(seen.filter((s) => s.n === 1).map((s) => s.final)).toEqual([false, false, true]);
  });

  it('does not count breaker pauses: after 3 pauses the transient budget is still whole', async () => {
    await send(2, 3);
    await expectEventually(() => expect(seen.filter((s) => s.n === 2 && s.final)).toHaveLength(1), { timeoutMs: 10_000 });
    const mine = seen.filter((s) => s.n === 2);
    // deliveries 1-3 paused (never final), then 3 transient attempts; a delivery-count rule would
    // have called delivery 3 final and answered a failure while the LIS was only paused
    expect(mine.map((s) => s.final)).toEqual([false, false, false, false, false, true]);
    expect(mine.at(-1)?.delivery).toBe(6);
  });
});
