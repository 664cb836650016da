import type { IncomingMessage, ServerResponse } from 'node:http';

import {
  Body,
  Controller,
  Headers,
  Param,
  Post,
  Req,
  Res,
} from '@nestjs/common';

import { headerValue, requestPath, sendOutcome } from '../http/reply.util.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { BillingService } from './billing.service.js';

// @Res: the sim picks each status itself and must be able to leave a response open.
@Controller('billing')
export class BillingController {
  constructor(
    private readonly billing: BillingService,
    private readonly lifecycle: LifecycleService,
  ) {}

  @Post('charges')
  async create(
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
    @Headers('idempotency-key') key: string | string[] | undefined,
    @Body() body: unknown,
  ): Promise<void> {
    const outcome = await this.billing.createCharge({
      path: requestPath(req),
      idempotencyKey: headerValue(key),
      body,
    });
    sendOutcome(res, outcome, this.lifecycle);
  }

  @Post('charges/:chargeId/void')
  async void(
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
    @Param('chargeId') chargeId: string,
    @Headers('idempotency-key') key: string | string[] | undefined,
    @Body() body: unknown,
  ): Promise<void> {
    const outcome = await this.billing.voidCharge({
      chargeId,
      path: requestPath(req),
      idempotencyKey: headerValue(key),
      body,
    });
    sendOutcome(res, outcome, this.lifecycle);
  }
}
