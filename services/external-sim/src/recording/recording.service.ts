import { Inject, Injectable } from '@nestjs/common';

import { EXTERNAL_SIM_CONFIG } from '../config/external-sim.config.js';
import type { ExternalSimConfig } from '../config/external-sim.config.js';
import { TARGETS } from '../exchange/exchange.dto.js';
import type { EffectAttributes, Target } from '../exchange/exchange.dto.js';
import type { FaultMode } from '../fault/dto/add-fault.dto.js';

export interface RequestRecord {
  seq: number;
  target: Target;
  method: string;
  path: string;
  idempotencyKey: string | null;
  receivedAt: string;
  /** What was answered; null while pending, and for held (`timeout`) or dropped requests. */
  status: number | null;
  replay: boolean;
  fault: FaultMode | null;
  /** Id of the effect this request created or replayed, if any. */
  effectId: string | null;
  body: unknown;
}

export interface EffectRecord {
  effectId: string;
  target: Target;
  operation: string;
  idempotencyKey: string;
  resourceId: string;
  attributes: EffectAttributes;
  /** Seq of the request that created it. */
  seq: number;
  createdAt: string;
  replays: number;
}

export interface TargetStats {
  received: number;
  effects: number;
  replays: number;
  failuresInjected: number;
  delayed: number;
}

// Modes whose request never reaches the simulated system's logic.
const FAILURE_MODES: ReadonlySet<FaultMode> = new Set([
  'fail',
  'timeout',
  'throttle',
  'reject',
]);

function emptyStats(): Record<Target, TargetStats> {
  const entries = TARGETS.map((t) => [
    t,
    { received: 0, effects: 0, replays: 0, failuresInjected: 0, delayed: 0 },
  ]);
  return Object.fromEntries(entries) as Record<Target, TargetStats>;
}

/**
 * Everything the sim received and did, for tests to count deliveries. Counters are kept apart
 * from the request log so that the log can be capped without skewing the stats.
 */
@Injectable()
export class RecordingService {
  private seq = 0;
  private requests: RequestRecord[] = [];
  private effects: EffectRecord[] = [];
  private stats = emptyStats();

  constructor(
    @Inject(EXTERNAL_SIM_CONFIG) private readonly config: ExternalSimConfig,
  ) {}

  receive(params: {
    target: Target;
    method: string;
    path: string;
    idempotencyKey: string | undefined;
    body: unknown;
  }): RequestRecord {
    this.seq += 1;
    const record: RequestRecord = {
      seq: this.seq,
      target: params.target,
      method: params.method,
      path: params.path,
      idempotencyKey: params.idempotencyKey ?? null,
      receivedAt: new Date().toISOString(),
      status: null,
      replay: false,
      fault: null,
      effectId: null,
      body: params.body ?? null,
    };
    this.requests.push(record);
    if (this.requests.length > this.config.recording.maxRequests)
      this.requests.shift();
    this.stats[params.target].received += 1;
    return record;
  }

  markFault(record: RequestRecord, mode: FaultMode): void {
    record.fault = mode;
    const stats = this.stats[record.target];
    if (FAILURE_MODES.has(mode)) stats.failuresInjected += 1;
    else stats.delayed += 1;
  }

  answer(record: RequestRecord, status: number): void {
    record.status = status;
  }

  addEffect(
    record: RequestRecord,
    effect: {
      operation: string;
      idempotencyKey: string;
      resourceId: string;
      attributes: EffectAttributes;
    },
  ): EffectRecord {
    const created: EffectRecord = {
      ...effect,
      effectId: `${record.target}-effect-${record.seq}`,
      target: record.target,
      seq: record.seq,
      createdAt: new Date().toISOString(),
      replays: 0,
    };
    this.effects.push(created);
    record.effectId = created.effectId;
    this.stats[record.target].effects += 1;
    return created;
  }

  markReplay(record: RequestRecord, effectId: string | null): void {
    record.replay = true;
    record.effectId = effectId;
    this.stats[record.target].replays += 1;
    const effect =
      effectId === null
        ? undefined
        : this.effects.find((e) => e.effectId === effectId);
    if (effect !== undefined) effect.replays += 1;
  }

  listRequests(filter: {
    target?: Target;
    path?: string;
    pathPrefix?: string;
  }): RequestRecord[] {
    return this.requests
      .filter(
        (r) =>
          (filter.target === undefined || r.target === filter.target) &&
          (filter.path === undefined || r.path === filter.path) &&
          (filter.pathPrefix === undefined ||
            r.path.startsWith(filter.pathPrefix)),
      )
      .map((r) => ({ ...r }));
  }

  listEffects(target: Target): EffectRecord[] {
    return this.effects
      .filter((e) => e.target === target)
      .map((e) => ({ ...e }));
  }

  snapshotStats(): Record<Target, TargetStats> {
    return structuredClone(this.stats);
  }

  reset(): void {
    // seq keeps counting across resets so a stale record can never be mistaken for a new one.
    this.requests = [];
    this.effects = [];
    this.stats = emptyStats();
  }
}
