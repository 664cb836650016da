export interface TokenBucketOptions {
  /** Sustained calls per second. */
  ratePerSecond: number;
  /** Calls allowed at once after a quiet period (default: one second's worth, at least 1). */
  burst?: number;
  /** Milliseconds clock (injected: tests drive time). */
  now: () => number;
}

export type Reservation = { granted: true; waitMs: number } | { granted: false; retryAfterMs: number };

/**
 * Token bucket, clock-driven. `reserve(maxWaitMs)` takes a token now or books the next one when it
 * comes within `maxWaitMs` (the caller waits `waitMs`); later than that it refuses and says when to
 * come back. Booking ahead keeps waiting callers in order without a queue or timers.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  private readonly burst: number;
  private readonly perMs: number;

  constructor(private readonly options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0)) throw new Error('ratePerSecond must be > 0');
    this.burst = Math.max(1, options.burst ?? options.ratePerSecond);
    this.perMs = options.ratePerSecond / 1_000;
    this.tokens = this.burst;
    this.updatedAt = options.now();
  }

  reserve(maxWaitMs = 0): Reservation {
    this.refill();
    const waitMs = this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.perMs);
    if (waitMs > maxWaitMs) return { granted: false, retryAfterMs: waitMs };
    this.tokens -= 1;
    return { granted: true, waitMs };
  }

  /** Gives back a reserved token whose call did not happen (e.g. refused by the breaker). */
  refund(): void {
    this.refill();
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }

  private refill(): void {
    const now = this.options.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.updatedAt) * this.perMs);
    this.updatedAt = now;
  }
}

/** Non-blocking concurrency cap: a caller that cannot enter is told so at once (never queued). */
export class ConcurrencyLimiter {
  private inFlight = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error('max concurrency must be an integer >= 1');
  }

  get active(): number {
    return this.inFlight;
  }

  tryEnter(): boolean {
    if (this.inFlight >= this.max) return false;
    this.inFlight += 1;
    return true;
  }

  leave(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
  }
}
