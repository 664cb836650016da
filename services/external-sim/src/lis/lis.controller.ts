import type { IncomingMessage, ServerResponse } from 'node:http';

import {
  Body,
  Controller,
  Get,
  Headers,
  Param,
  Post,
  Req,
  Res,
} from '@nestjs/common';

import { headerValue, requestPath, sendOutcome } from '../http/reply.util.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { LisService } from './lis.service.js';

// @Res: the sim picks each status itself and must be able to leave a response open.
@Controller('lis')
export class LisController {
  constructor(
    private readonly lis: LisService,
    private readonly lifecycle: LifecycleService,
  ) {}

  @Post('orders')
  async place(
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
    @Headers('idempotency-key') key: string | string[] | undefined,
    @Body() body: unknown,
  ): Promise<void> {
    const outcome = await this.lis.placeOrder({
      path: requestPath(req),
      idempotencyKey: headerValue(key),
      body,
    });
    sendOutcome(res, outcome, this.lifecycle);
  }

  @Post('orders/:lisOrderId/cancel')
  async cancel(
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
    @Param('lisOrderId') lisOrderId: string,
    @Headers('idempotency-key') key: string | string[] | undefined,
    @Body() body: unknown,
  ): Promise<void> {
    const outcome = await this.lis.cancelOrder({
      lisOrderId,
      path: requestPath(req),
      idempotencyKey: headerValue(key),
      body,
    });
    sendOutcome(res, outcome, this.lifecycle);
  }

  @Get('orders/:lisOrderId')
  async get(
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
    @Param('lisOrderId') lisOrderId: string,
  ): Promise<void> {
    const outcome = await this.lis.getOrder({
      lisOrderId,
      path: requestPath(req),
      idempotencyKey: undefined,
      body: undefined,
    });
    sendOutcome(res, outcome, this.lifecycle);
  }
}
