/**
 * Stat work goes first inside one process. Both lanes share the event loop (and the broker, and two
 * cores), so routine work interleaved with a stat burst delays it: stat p99 grew 1.3–2.3× under a
 * routine backlog with separate durables alone. While stat work is in flight, and for `lingerMs` after
 * it drains (stat orders come in bursts: keep the burst's later messages clear too), routine work waits
 * to start and the routine lane stops taking messages from its pull.
 *
 * No starvation: a hold lasts at most `maxDeferMs`, then routine work runs freely for as long again
 * even if stat traffic never stops, so routine keeps at least half the time under a steady stat stream.
 */
export class LanePrecedence {
  private statInFlight = 0;
  private lingering = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Start of the current hold (Date.now), while stat work is busy. */
  private heldSince: number | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly maxDeferMs = 250,
    private readonly lingerMs = 50,
  ) {}

  enterStat(): void {
    this.statInFlight += 1;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.lingering = false;
  }

  leaveStat(): void {
    this.statInFlight = Math.max(0, this.statInFlight - 1);
    if (this.statInFlight > 0) return;
    if (this.lingerMs <= 0) {
      this.wake();
      return;
    }
    this.lingering = true;
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      this.lingering = false;
      this.wake();
    }, this.lingerMs);
  }

  /** Resolves at once unless routine work is held, else when stat work quiets down or the hold ends. */
  async routineTurn(): Promise<void> {
    if (!this.holding(Date.now())) return;
    await new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      if (!this.holdTimer) {
        const left = (this.heldSince ?? 0) + this.maxDeferMs - Date.now();
        this.holdTimer = setTimeout(() => this.wake(), Math.max(0, left));
      }
    });
  }

  get statBusy(): boolean {
    return this.statInFlight > 0 || this.lingering;
  }

  /** Holds alternate with equally long free periods while stat work stays busy. */
  private holding(now: number): boolean {
    if (!this.statBusy) {
      this.heldSince = undefined;
      return false;
    }
    this.heldSince ??= now;
    const held = now - this.heldSince;
    if (held < this.maxDeferMs) return true;
    if (held < 2 * this.maxDeferMs) return false;
    this.heldSince = now;
    return true;
  }

  private wake(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    if (!this.statBusy) this.heldSince = undefined;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
