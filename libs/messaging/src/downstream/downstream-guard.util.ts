import { Counter, Gauge } from 'prom-client';

import { AppError, isAppError } from '@lifeline/errors';
import { registry } from '@lifeline/observability';

import { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.util.js';
import { ConcurrencyLimiter, TokenBucket } from './rate-limiter.util.js';

export type DownstreamErrorCode = 'DOWNSTREAM_CIRCUIT_OPEN' | 'DOWNSTREAM_RATE_LIMITED';

export type DownstreamCallOutcome = 'success' | 'failure' | 'circuit_open' | 'rate_limited';

export interface DownstreamClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface DownstreamGuardOptions {
  /** Metric label and error detail, e.g. 'lis', 'ehr-inbox'. Never an id. */
  target: string;
  /** Off: no breaker (the negative control); rate and concurrency limits still apply when set. */
  breaker?: Omit<CircuitBreakerOptions, 'now'> & { enabled: boolean };
  /** Calls per second (token bucket); undefined = unlimited. */
  ratePerSecond?: number;
  burst?: number;
  /** Calls in flight at once; undefined = unlimited. */
  maxConcurrency?: number;
  /** Longest a call waits for a rate-limit token before it is refused (default 250 ms). */
  maxWaitMs?: number;
  /** Which errors count against the downstream; default: anything not a non-retryable AppError. */
  isFailure?: (err: unknown) => boolean;
  clock?: DownstreamClock;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };
// When the concurrency cap refuses a call, a slot usually frees within a call's duration.
const BUSY_RETRY_MS = 1_000;

const breakerState = new Gauge({
  name: 'downstream_breaker_state',
  help: 'Circuit breaker state per downstream: 0 closed, 1 half-open, 2 open',
  labelNames: ['target'] as const,
  registers: [registry],
});
const calls = new Counter({
  name: 'downstream_calls_total',
  help: 'Calls to a downstream through its guard, by outcome (refusals never reached it)',
  labelNames: ['target', 'outcome'] as const,
  registers: [registry],
});

const systemClock: DownstreamClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Per-destination protection for an HTTP adapter: circuit breaker, token-bucket rate limit and
 * concurrency cap. A refused call throws a retryable AppError of kind 'downstream-unavailable' with
 * `details.retryAfterMs`: the JetStream transport pauses such a message (delayed nak) without
 * consuming its retry budget, so an outage never burns messages into the DLQ.
 */
export class DownstreamGuard {
  private readonly breaker?: CircuitBreaker;
  private readonly bucket?: TokenBucket;
  private readonly slots?: ConcurrencyLimiter;
  private readonly clock: DownstreamClock;

  constructor(private readonly options: DownstreamGuardOptions) {
    this.clock = options.clock ?? systemClock;
    const now = () => this.clock.now();
    if (options.breaker?.enabled) this.breaker = new CircuitBreaker({ ...options.breaker, now });
    if (options.ratePerSecond !== undefined) {
      this.bucket = new TokenBucket({ ratePerSecond: options.ratePerSecond, burst: options.burst, now });
    }
    if (options.maxConcurrency !== undefined) this.slots = new ConcurrencyLimiter(options.maxConcurrency);
    breakerState.labels(options.target).set(0);
  }

  get state(): BreakerState {
    return this.breaker?.state ?? 'closed';
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    // Fail fast on an open breaker before taking a token or a slot.
    const early = this.breaker?.peek();
    if (early && !early.allowed) throw this.refuse('DOWNSTREAM_CIRCUIT_OPEN', early.retryAfterMs);
    if (this.slots && !this.slots.tryEnter()) throw this.refuse('DOWNSTREAM_RATE_LIMITED', BUSY_RETRY_MS);
    try {
      return await this.admitted(call);
    } finally {
      this.slots?.leave();
    }
  }

  private async admitted<T>(call: () => Promise<T>): Promise<T> {
    const reservation = this.bucket?.reserve(this.options.maxWaitMs ?? 250);
    if (reservation && !reservation.granted) throw this.refuse('DOWNSTREAM_RATE_LIMITED', reservation.retryAfterMs);
    if (reservation && reservation.waitMs > 0) await this.clock.sleep(reservation.waitMs);
    // Claimed only now: while this call waited for its token, another may have become the probe.
    const permit = this.breaker?.tryAcquire() ?? { allowed: true, probe: false };
    if (!permit.allowed) {
      this.bucket?.refund();
      throw this.refuse('DOWNSTREAM_CIRCUIT_OPEN', permit.retryAfterMs);
    }
    try {
      const result = await call();
      this.settle('success', permit.probe);
      return result;
    } catch (err) {
      const failed = (this.options.isFailure ?? defaultIsFailure)(err);
      this.settle(failed ? 'failure' : 'success', permit.probe);
      throw err;
    }
  }

  private settle(outcome: 'success' | 'failure', probe: boolean): void {
    if (outcome === 'success') this.breaker?.onSuccess(probe);
    else this.breaker?.onFailure(probe);
    calls.labels(this.options.target, outcome).inc();
    this.publishState();
  }

  private refuse(code: DownstreamErrorCode, retryAfterMs: number): AppError<DownstreamErrorCode> {
    calls.labels(this.options.target, code === 'DOWNSTREAM_CIRCUIT_OPEN' ? 'circuit_open' : 'rate_limited').inc();
    this.publishState();
    return new AppError<DownstreamErrorCode>({
      code,
      message: code === 'DOWNSTREAM_CIRCUIT_OPEN' ? 'downstream circuit open' : 'downstream rate limit reached',
      retryable: true,
      // Not a failure of the message: the transport waits without spending its attempts.
      kind: 'downstream-unavailable',
      details: { target: this.options.target, retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)) },
    });
  }

  private publishState(): void {
    breakerState.labels(this.options.target).set(STATE_VALUE[this.state]);
  }
}

/** A business answer (non-retryable AppError) proves the downstream is up; the rest counts against it. */
function defaultIsFailure(err: unknown): boolean {
  return !isAppError(err) || err.retryable;
}

/** The refusal a guard threw, with its suggested wait; undefined for any other error. */
export function downstreamRefusal(err: unknown): { code: DownstreamErrorCode; retryAfterMs: number } | undefined {
  if (!isAppError(err)) return undefined;
  if (err.code !== 'DOWNSTREAM_CIRCUIT_OPEN' && err.code !== 'DOWNSTREAM_RATE_LIMITED') return undefined;
  const retryAfterMs = err.details.retryAfterMs;
  return { code: err.code, retryAfterMs: typeof retryAfterMs === 'number' ? retryAfterMs : 0 };
}

/** Per-destination limits as a service configures them (env, validated by its config schema). */
export interface DownstreamProtection {
  breakerEnabled: boolean;
  breakerFailures: number;
  breakerOpenMs: number;
  ratePerSecond: number;
  maxConcurrency: number;
}

export function createDownstreamGuard(
  target: string,
  protection: DownstreamProtection,
  extra: Pick<DownstreamGuardOptions, 'isFailure' | 'clock' | 'maxWaitMs'> = {},
): DownstreamGuard {
  return new DownstreamGuard({
    target,
    breaker: { enabled: protection.breakerEnabled, failureThreshold: protection.breakerFailures, openMs: protection.breakerOpenMs },
    ratePerSecond: protection.ratePerSecond,
    maxConcurrency: protection.maxConcurrency,
    ...extra,
  });
}
