/**
 * Stat work goes first inside one process. Both lanes share the event loop, so routine handlers started
 * while stat messages are in flight slow the stat lane (measured: stat p99 1.7× idle under a routine
 * backlog with separate durables alone). A routine message waits to start while any stat message is in
 * flight, bounded by `maxDeferMs` so a steady stat stream cannot starve routine work.
 */
export class LanePrecedence {
  private statInFlight = 0;
  private waiters: Array<() => void> = [];

  constructor(private readonly maxDeferMs = 250) {}

  enterStat(): void {
    this.statInFlight += 1;
  }

  leaveStat(): void {
    this.statInFlight = Math.max(0, this.statInFlight - 1);
    if (this.statInFlight === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves at once when no stat work is in flight, else when it drains or after maxDeferMs. */
  async routineTurn(): Promise<void> {
    if (this.statInFlight === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.maxDeferMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  get statBusy(): boolean {
    return this.statInFlight > 0;
  }
}
