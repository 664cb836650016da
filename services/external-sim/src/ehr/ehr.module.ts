import { Module } from '@nestjs/common';

import { EhrController } from './ehr.controller.js';
import { EhrService } from './ehr.service.js';

@Module({
  controllers: [EhrController],
  providers: [EhrService],
  exports: [EhrService],
})
export class EhrModule {}
