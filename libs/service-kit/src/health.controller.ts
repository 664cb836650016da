import { Controller, Get, HttpCode, HttpStatus, Inject, Optional, Res } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Response } from 'express';
import { DataSource } from 'typeorm';

import { JetStreamServer, NATS_CONNECTION, checkJetStream } from '@lifeline/messaging';

/**
 * Liveness says the process runs; readiness says it can do its work: PostgreSQL answers (when the
 * service has a database) and NATS answers with every consumer pulling.
 */
@Controller('health')
export class HealthController {
  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Optional() private readonly dataSource?: DataSource,
    @Optional() private readonly server?: JetStreamServer,
  ) {}

  @Get('live')
  @HttpCode(HttpStatus.OK)
  live(): { status: 'up' } {
    return { status: 'up' };
  }

  @Get('ready')
  async ready(@Res({ passthrough: true }) res: Response): Promise<Record<string, unknown>> {
    const nats = await checkJetStream(this.nc, this.server);
    let database: { status: 'up' | 'down' | 'n/a' } = { status: 'n/a' };
    if (this.dataSource) {
      try {
        await this.dataSource.query('SELECT 1');
        database = { status: 'up' };
      } catch {
        database = { status: 'down' };
      }
    }
    const up = nats.status === 'up' && database.status !== 'down';
    res.status(up ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return { status: up ? 'up' : 'down', nats, database };
  }
}
