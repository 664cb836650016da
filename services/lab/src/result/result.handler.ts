import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';

import {
  SUBJECTS,
  type Envelope,
  type ResultReceivedV1,
} from '@lifeline/contracts';
import { ConsumeEvent, JetStreamContext } from '@lifeline/messaging';

import { ResultService } from './result.service.js';

@Controller()
export class ResultHandler {
  constructor(private readonly results: ResultService) {}

  @ConsumeEvent(SUBJECTS.clinical.resultReceived)
  async onResultReceived(
    @Payload() env: Envelope<ResultReceivedV1>,
    @Ctx() ctx: JetStreamContext,
  ): Promise<void> {
    await this.results.recordResult(env, ctx.durable);
  }
}
