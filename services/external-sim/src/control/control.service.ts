import { Injectable } from '@nestjs/common';

import { BillingService } from '../billing/billing.service.js';
import type { Target } from '../exchange/exchange.dto.js';
import { ExchangeService } from '../exchange/exchange.service.js';
import type { AddFaultDto } from '../fault/dto/add-fault.dto.js';
import { FaultService } from '../fault/fault.service.js';
import type { Fault } from '../fault/fault.service.js';
import { LisService } from '../lis/lis.service.js';
import { RecordingService } from '../recording/recording.service.js';
import type {
  EffectRecord,
  RequestRecord,
  TargetStats,
} from '../recording/recording.service.js';
import type { RequestsQueryDto } from './dto/control-query.dto.js';

export interface EffectsView {
  target: Target;
  count: number;
  /** Effects per idempotency key: always 1 unless the sim's own dedup is broken. */
  byKey: Record<string, number>;
  effects: EffectRecord[];
}

/** What tests and operators use to inspect and steer the sim. */
@Injectable()
export class ControlService {
  constructor(
    private readonly recording: RecordingService,
    private readonly faults: FaultService,
    private readonly exchange: ExchangeService,
    private readonly lis: LisService,
    private readonly billing: BillingService,
  ) {}

  requests(query: RequestsQueryDto): RequestRecord[] {
    return this.recording.listRequests(query);
  }

  stats(): Record<Target, TargetStats> {
    return this.recording.snapshotStats();
  }

  effects(target: Target): EffectsView {
    const effects = this.recording.listEffects(target);
    const byKey: Record<string, number> = {};
    for (const e of effects)
      byKey[e.idempotencyKey] = (byKey[e.idempotencyKey] ?? 0) + 1;
    return { target, count: effects.length, byKey, effects };
  }

  addFault(dto: AddFaultDto): Fault {
    return this.faults.add(dto);
  }

  listFaults(): Fault[] {
    return this.faults.list();
  }

  clearFaults(): number {
    const count = this.faults.list().length;
    this.faults.clear();
    return count;
  }

  reset(): void {
    this.faults.clear();
    this.recording.reset();
    this.exchange.reset();
    this.lis.reset();
    this.billing.reset();
  }
}
