/**
 * A byte budget refilled at `ratePerSecond` up to one second's worth. A caller may spend more than is left
 * (one large read), which drives the budget negative: the debt must be repaid before the next spend, so the
 * average never exceeds the rate (as with Kinesis, where a 10 MiB GetRecords blocks the shard for seconds).
 */
export class TokenBucket {
  private tokens: number;
  private last: number | undefined;

  constructor(private readonly ratePerSecond: number) {
    this.tokens = ratePerSecond;
  }

  /** True when something may be spent at `now` (ms). */
  available(now: number): boolean {
    this.refill(now);
    return this.tokens > 0;
  }

  /** Spends `amount` at `now` (ms); may go into debt. */
  spend(now: number, amount: number): void {
    this.refill(now);
    this.tokens -= amount;
  }

  /** Milliseconds from `now` until something may be spent again (0 when it may now). */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens > 0 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond);
  }

  private refill(now: number): void {
    if (this.last !== undefined && now > this.last) {
      this.tokens = Math.min(
        this.ratePerSecond,
        this.tokens + ((now - this.last) * this.ratePerSecond) / 1000,
      );
    }
    if (this.last === undefined || now > this.last) this.last = now;
  }
}
