import { Module } from '@nestjs/common';

import { ResultController } from './result.controller.js';
import { ResultHandler } from './result.handler.js';
import { ResultRepository } from './result.repository.js';
import { ResultService } from './result.service.js';

@Module({
  controllers: [ResultController, ResultHandler],
  providers: [ResultService, ResultRepository],
})
export class ResultModule {}
