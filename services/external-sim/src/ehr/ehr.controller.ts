import type { IncomingMessage, ServerResponse } from 'node:http';

import { Body, Controller, Headers, Post, Req, Res } from '@nestjs/common';

import { headerValue, requestPath, sendOutcome } from '../http/reply.util.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { EhrService } from './ehr.service.js';

// @Res: the sim picks each status itself and must be able to leave a response open.
@Controller('ehr')
export class EhrController {
  constructor(
    private readonly ehr: EhrService,
    private readonly lifecycle: LifecycleService,
  ) {}

  @Post('inbox/messages')
  async deliver(
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
    @Headers('idempotency-key') key: string | string[] | undefined,
    @Body() body: unknown,
  ): Promise<void> {
    const outcome = await this.ehr.deliverMessage({
      path: requestPath(req),
      idempotencyKey: headerValue(key),
      body,
    });
    sendOutcome(res, outcome, this.lifecycle);
  }
}
