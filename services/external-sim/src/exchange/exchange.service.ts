import { Injectable } from '@nestjs/common';

import type { FaultMode } from '../fault/dto/add-fault.dto.js';
import { FaultService } from '../fault/fault.service.js';
import type { Fault } from '../fault/fault.service.js';
import {
  describeIssues,
  operationOutcome,
} from '../http/operation-outcome.util.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { RecordingService } from '../recording/recording.service.js';
import type { RequestRecord } from '../recording/recording.service.js';
import type {
  ExchangeRequest,
  JsonBody,
  Outcome,
  Target,
} from './exchange.dto.js';

interface StoredAnswer {
  fingerprint: string;
  status: number;
  body: JsonBody;
  effectId: string | null;
}

const REJECTION_CODES: Record<Target, string> = {
  lis: 'LIS_REJECTED',
  ehr: 'EHR_REJECTED',
  billing: 'BILLING_REJECTED',
};

// Printable ASCII, bounded: what real idempotency-key implementations accept.
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Stable JSON for comparing a retry's payload with the first one, whatever the key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The request pipeline every simulated endpoint runs through, in the order a real remote system
 * would apply it: record, check the key, injected fault, idempotent replay, validation, effect.
 * A faulted request reaches neither the replay store nor the handler, so it never has an effect.
 */
@Injectable()
export class ExchangeService {
  private answers = new Map<string, StoredAnswer>();

  constructor(
    private readonly recording: RecordingService,
    private readonly faults: FaultService,
    private readonly lifecycle: LifecycleService,
  ) {}

  async exchange<T>(req: ExchangeRequest<T>): Promise<Outcome> {
    const record = this.recording.receive(req);
    const refused = this.checkKey(record, req);
    if (refused !== undefined) return refused;

    const fault = this.faults.take({ target: req.target, path: req.path });
    if (fault !== undefined) {
      this.recording.markFault(record, fault.mode);
      if (fault.mode !== 'slow') return this.faulted(record, fault, fault.mode);
      // Like a real slow server, the effect still happens if the client gave up meanwhile.
      if (!(await this.lifecycle.delay(fault.delayMs))) return { kind: 'drop' };
    }

    const key = req.idempotencyKey;
    const scope =
      key === undefined ? undefined : `${req.operation}\u0000${key}`;
    const fingerprint = canonical({ path: req.path, body: req.body ?? null });
    const stored = scope === undefined ? undefined : this.answers.get(scope);
    if (stored !== undefined) return this.replay(record, stored, fingerprint);

    const parsed = req.schema.safeParse(req.body);
    if (!parsed.success) {
      const diagnostics = `invalid request: ${describeIssues(parsed.error.issues)}`;
      return this.reply(record, 400, operationOutcome('invalid', diagnostics));
    }
    const result = req.handle(parsed.data);
    let effectId: string | null = null;
    // Effects are counted per idempotency key; every effecting operation requires one.
    if (result.kind === 'effect' && key !== undefined) {
      const effect = {
        operation: req.operation,
        idempotencyKey: key,
        ...result.effect,
      };
      effectId = this.recording.addEffect(record, effect).effectId;
    }
    if (scope !== undefined && (result.kind === 'effect' || result.remember)) {
      const { status, body } = result;
      this.answers.set(scope, { fingerprint, status, body, effectId });
    }
    return this.reply(record, result.status, result.body);
  }

  reset(): void {
    this.answers.clear();
  }

  private checkKey(
    record: RequestRecord,
    req: { idempotencyKey: string | undefined; requireIdempotencyKey: boolean },
  ): Outcome | undefined {
    const key = req.idempotencyKey;
    if (key === undefined) {
      return req.requireIdempotencyKey
        ? this.reply(
            record,
            400,
            operationOutcome('required', 'Idempotency-Key header is required'),
          )
        : undefined;
    }
    return IDEMPOTENCY_KEY.test(key)
      ? undefined
      : this.reply(
          record,
          400,
          operationOutcome('invalid', 'Idempotency-Key header is malformed'),
        );
  }

  private replay(
    record: RequestRecord,
    stored: StoredAnswer,
    fingerprint: string,
  ): Outcome {
    // Same key, different request: a client bug that must not silently get the old answer.
    if (stored.fingerprint !== fingerprint) {
      return this.reply(record, 422, { reasonCode: 'IDEMPOTENCY_KEY_REUSED' });
    }
    this.recording.markReplay(record, stored.effectId);
    return this.reply(record, stored.status, stored.body);
  }

  private faulted(
    record: RequestRecord,
    fault: Fault,
    mode: Exclude<FaultMode, 'slow'>,
  ): Outcome {
    switch (mode) {
      case 'fail':
        return this.reply(
          record,
          fault.status,
          operationOutcome('transient', 'injected failure'),
        );
      case 'throttle':
        return this.reply(
          record,
          429,
          operationOutcome('throttled', 'injected throttling'),
          {
            'retry-after': String(fault.retryAfterSeconds),
          },
        );
      case 'reject':
        return this.reply(record, 422, {
          reasonCode: REJECTION_CODES[record.target],
        });
      case 'timeout':
        return { kind: 'hold' };
    }
  }

  private reply(
    record: RequestRecord,
    status: number,
    body: JsonBody,
    headers: Record<string, string> = {},
  ): Outcome {
    this.recording.answer(record, status);
    return { kind: 'reply', status, body, headers };
  }
}
