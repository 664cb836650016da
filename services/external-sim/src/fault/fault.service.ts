import { randomUUID } from 'node:crypto';

import { Injectable } from '@nestjs/common';

import type { Target } from '../exchange/exchange.dto.js';
import type { AddFaultDto, FaultMode } from './dto/add-fault.dto.js';

export interface Fault {
  id: string;
  target: Target;
  mode: FaultMode;
  status: number;
  delayMs: number;
  retryAfterSeconds: number;
  pathPrefix: string | null;
  /** Requests still to be hit; null = every request until cleared or expired. */
  remaining: number | null;
  createdAt: string;
  /** Epoch ms after which the fault no longer applies; null = no time limit. */
  expiresAt: number | null;
}

const DEFAULT_FAIL_STATUS = 503;
const DEFAULT_RETRY_AFTER_SECONDS = 1;

/**
 * Injected faults, shared by every simulated target. The first live fault added for a target
 * (and matching path) applies; a counted fault is used up one request at a time.
 */
@Injectable()
export class FaultService {
  private faults: Fault[] = [];

  add(dto: AddFaultDto, now = Date.now()): Fault {
    const fault: Fault = {
      id: randomUUID(),
      target: dto.target,
      mode: dto.mode,
      status: dto.status ?? DEFAULT_FAIL_STATUS,
      delayMs: dto.delayMs ?? 0,
      retryAfterSeconds: dto.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS,
      pathPrefix: dto.pathPrefix ?? null,
      remaining: dto.count ?? null,
      createdAt: new Date(now).toISOString(),
      expiresAt: dto.untilMs === undefined ? null : now + dto.untilMs,
    };
    this.faults.push(fault);
    return fault;
  }

  list(now = Date.now()): Fault[] {
    this.prune(now);
    return this.faults.map((f) => ({ ...f }));
  }

  clear(): void {
    this.faults = [];
  }

  /** Picks the fault for this request, if any, and consumes one use of it. */
  take(
    params: { target: Target; path: string },
    now = Date.now(),
  ): Fault | undefined {
    this.prune(now);
    const fault = this.faults.find(
      (f) =>
        f.target === params.target &&
        (f.pathPrefix === null || params.path.startsWith(f.pathPrefix)),
    );
    if (fault === undefined) return undefined;
    if (fault.remaining !== null) fault.remaining -= 1;
    const snapshot = { ...fault };
    this.prune(now);
    return snapshot;
  }

  private prune(now: number): void {
    this.faults = this.faults.filter(
      (f) =>
        (f.remaining === null || f.remaining > 0) &&
        (f.expiresAt === null || now < f.expiresAt),
    );
  }
}
