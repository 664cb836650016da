export type BreakerState = 'closed' | 'half-open' | 'open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. */
  failureThreshold: number;
  /**
   * How long the breaker stays open before a half-open probe; a failed probe reopens it, so this is
   * also the probe interval: one call per `openMs` reaches a destination that stays down.
   */
  openMs: number;
  /** Also open on an error rate over the last `windowSize` calls, once `minimumCalls` were seen. */
  errorRate?: { threshold: number; windowSize: number; minimumCalls: number };
  /** Milliseconds clock (injected: tests drive time). */
  now: () => number;
}

export type BreakerPermit =
  | { allowed: true; probe: boolean }
  | { allowed: false; retryAfterMs: number };

/**
 * A per-destination circuit breaker, synchronous and clock-driven (no timers): closed → open on
 * `failureThreshold` consecutive failures or the error rate; open → half-open after `openMs`;
 * half-open admits one probe at a time, a probe success closes, a probe failure reopens.
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private consecutiveFailures = 0;
  private readonly outcomes: boolean[] = [];
  private openedAt = 0;
  private probeInFlight = false;

  constructor(private readonly options: CircuitBreakerOptions) {
    if (options.failureThreshold < 1) throw new Error('failureThreshold must be >= 1');
    if (options.openMs < 1) throw new Error('openMs must be >= 1');
  }

  /** The state now (open turns half-open once `openMs` has passed). */
  get state(): BreakerState {
    if (this.current === 'open' && this.options.now() - this.openedAt >= this.options.openMs) {
      this.current = 'half-open';
    }
    return this.current;
  }

  /** Whether a call may go now; in half-open the allowed call is the probe and must report back. */
  tryAcquire(): BreakerPermit {
    const permit = this.peek();
    if (permit.allowed && permit.probe) {
      this.probeInFlight = true;
    }
    return permit;
  }

  /** Like tryAcquire without claiming the probe: to fail fast before waiting for other limits. */
  peek(): BreakerPermit {
    switch (this.state) {
      case 'closed':
        return { allowed: true, probe: false };
      case 'open':
        return { allowed: false, retryAfterMs: Math.max(1, this.openedAt + this.options.openMs - this.options.now()) };
      case 'half-open':
        // One probe at a time; the others learn its outcome no sooner than one open period later.
        return this.probeInFlight ? { allowed: false, retryAfterMs: this.options.openMs } : { allowed: true, probe: true };
    }
  }

  onSuccess(probe: boolean): void {
    if (probe) this.probeInFlight = false;
    if (probe || this.current === 'half-open') {
      this.close();
      return;
    }
    this.consecutiveFailures = 0;
    this.record(true);
  }

  onFailure(probe: boolean): void {
    if (probe) this.probeInFlight = false;
    if (probe || this.current === 'half-open') {
      this.open();
      return;
    }
    // A call admitted while closed that fails after the breaker opened changes nothing.
    if (this.current !== 'closed') return;
    this.consecutiveFailures += 1;
    this.record(false);
    if (this.consecutiveFailures >= this.options.failureThreshold || this.rateExceeded()) this.open();
  }

  /** A probe that ended without an outcome (e.g. cancelled): let the next one through. */
  release(probe: boolean): void {
    if (probe) this.probeInFlight = false;
  }

  private record(ok: boolean): void {
    const rate = this.options.errorRate;
    if (!rate) return;
    this.outcomes.push(ok);
    if (this.outcomes.length > rate.windowSize) this.outcomes.shift();
  }

  private rateExceeded(): boolean {
    const rate = this.options.errorRate;
    if (!rate || this.outcomes.length < rate.minimumCalls) return false;
    const failures = this.outcomes.filter((ok) => !ok).length;
    return failures / this.outcomes.length >= rate.threshold;
  }

  private open(): void {
    this.current = 'open';
    this.openedAt = this.options.now();
  }

  private close(): void {
    this.current = 'closed';
    this.consecutiveFailures = 0;
    this.outcomes.length = 0;
  }
}
