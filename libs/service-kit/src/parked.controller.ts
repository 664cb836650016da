import { Controller, Get, HttpCode, HttpStatus, Inject, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';

import { JetStreamServer, type ParkedEntry } from '@lifeline/messaging';
import type { Logger } from '@lifeline/observability';

import { SERVICE_LOGGER } from './service-core.tokens.js';

/**
 * Ops API for parked patients (per-patient ordering): list, release (re-apply the dead-lettered head,
 * then the held events in order) or discard (the head stays in the DLQ; the held events flow).
 * Patient keys are hashes, never identifiers. Authorization is the ingress's job (ops network only).
 */
@Controller('ops/parked')
export class ParkedController {
  constructor(
    private readonly server: JetStreamServer,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  @Get()
  list(): { parked: ParkedEntry[] } {
    return { parked: this.server.parking.list() };
  }

  @Post(':patientKey/release')
  @HttpCode(HttpStatus.ACCEPTED)
  async release(
    @Param('patientKey') patientKey: string,
    @Query('consumer') consumer: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ released: ParkedEntry[] }> {
    const released: ParkedEntry[] = [];
    for (const entry of this.entriesOf(patientKey, consumer)) {
      const r = await this.server.parking.release(entry.consumer, entry.patientKey);
      if (r) released.push(r);
    }
    if (released.length === 0) res.status(HttpStatus.NOT_FOUND);
    this.logger.warn({ consumers: released.map((e) => e.consumer), patientKey }, 'operator released a parked patient');
    return { released };
  }

  @Post(':patientKey/discard')
  @HttpCode(HttpStatus.OK)
  async discard(
    @Param('patientKey') patientKey: string,
    @Query('consumer') consumer: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ discarded: ParkedEntry[] }> {
    const discarded: ParkedEntry[] = [];
    for (const entry of this.entriesOf(patientKey, consumer)) {
      const d = await this.server.parking.discard(entry.consumer, entry.patientKey);
      if (d) discarded.push(d);
    }
    if (discarded.length === 0) res.status(HttpStatus.NOT_FOUND);
    this.logger.warn({ consumers: discarded.map((e) => e.consumer), patientKey }, 'operator discarded a parked head');
    return { discarded };
  }

  private entriesOf(patientKey: string, consumer?: string): ParkedEntry[] {
    return this.server.parking.list().filter((e) => e.patientKey === patientKey && (!consumer || e.consumer === consumer));
  }
}
