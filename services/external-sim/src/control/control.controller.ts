import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
} from '@nestjs/common';

import type { Target } from '../exchange/exchange.dto.js';
import { AddFaultDto } from '../fault/dto/add-fault.dto.js';
import type { Fault } from '../fault/fault.service.js';
import { ZodPipe } from '../http/zod-pipe.util.js';
import type {
  RequestRecord,
  TargetStats,
} from '../recording/recording.service.js';
import { ControlService } from './control.service.js';
import type { EffectsView } from './control.service.js';
import { RequestsQueryDto, TargetParamDto } from './dto/control-query.dto.js';

/** Test and operator API; its own calls are not recorded as target traffic. */
@Controller('_sim')
export class ControlController {
  constructor(private readonly control: ControlService) {}

  @Get('requests')
  requests(
    @Query(new ZodPipe(RequestsQueryDto)) query: RequestsQueryDto,
  ): RequestRecord[] {
    return this.control.requests(query);
  }

  @Get('stats')
  stats(): Record<Target, TargetStats> {
    return this.control.stats();
  }

  @Get('effects/:target')
  effects(
    @Param('target', new ZodPipe(TargetParamDto)) target: Target,
  ): EffectsView {
    return this.control.effects(target);
  }

  @Post('faults')
  addFault(@Body(new ZodPipe(AddFaultDto)) dto: AddFaultDto): Fault {
    return this.control.addFault(dto);
  }

  @Get('faults')
  listFaults(): Fault[] {
    return this.control.listFaults();
  }

  @Delete('faults')
  clearFaults(): { cleared: number } {
    return { cleared: this.control.clearFaults() };
  }

  @Post('reset')
  @HttpCode(200)
  reset(): { status: 'reset' } {
    this.control.reset();
    return { status: 'reset' };
  }
}
