/** Kinesis write limits per shard. */
export const SHARD_RECORDS_PER_SECOND = 1_000;
export const SHARD_BYTES_PER_SECOND = 1_048_576;

// A bucket holds at most this much of a second's allowance: with the default 95% rate, a full bucket plus
// one second of refill stays under what Kinesis allows in any sliding second (0.95 x 1.05 < 1).
const BURST_SECONDS = 0.05;
// AIMD: a throttled shard's rate is multiplied by DECREASE (at most once per DECREASE_INTERVAL_MS, so one
// request's worth of throttled entries counts once) and grows back by INCREASE per INCREASE_INTERVAL_MS
// without throttling, never below MIN_RATIO nor above 1.
const DECREASE = 0.8;
const DECREASE_INTERVAL_MS = 100;
const INCREASE = 0.05;
const INCREASE_INTERVAL_MS = 50;
const MIN_RATIO = 0.05;

class TokenBucket {
  private tokens: number;

  constructor(
    private readonly perSecond: number,
    private last: number,
  ) {
    this.tokens = perSecond * BURST_SECONDS;
  }

  private capacity(ratio: number): number {
    return this.perSecond * ratio * BURST_SECONDS;
  }

  refill(now: number, ratio: number): void {
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.capacity(ratio), this.tokens + (elapsed / 1000) * this.perSecond * ratio);
  }

  // A cost above the bucket's capacity (one large record) passes once the bucket is full and leaves it in
  // debt, so a big record is slowed down, never stuck.
  allows(cost: number, ratio: number): boolean {
    return this.tokens >= Math.min(cost, this.capacity(ratio));
  }

  take(cost: number): void {
    this.tokens -= cost;
  }

  give(cost: number, ratio: number): void {
    this.tokens = Math.min(this.capacity(ratio), this.tokens + cost);
  }

  msUntil(cost: number, ratio: number): number {
    const missing = Math.min(cost, this.capacity(ratio)) - this.tokens;
    return missing <= 0 ? 0 : Math.ceil((missing / (this.perSecond * ratio)) * 1000);
  }

  empty(): void {
    this.tokens = Math.min(this.tokens, 0);
  }
}

/** Two token buckets (records/s and bytes/s) for one shard, with additive-increase/multiplicative-decrease. */
export class ShardLimiter {
  private readonly records: TokenBucket;
  private readonly bytes: TokenBucket;
  /** Fraction of the configured rate currently allowed (AIMD state), in `[0.05, 1]`. */
  ratio = 1;
  private lastDecrease = Number.NEGATIVE_INFINITY;
  private lastIncrease: number;

  constructor(recordsPerSecond: number, bytesPerSecond: number, now: number) {
    this.records = new TokenBucket(recordsPerSecond, now);
    this.bytes = new TokenBucket(bytesPerSecond, now);
    this.lastIncrease = now;
  }

  /** Takes the allowance for `records` Kinesis records of `bytes` bytes, if both buckets have it. */
  tryTake(records: number, bytes: number, now: number): boolean {
    this.refill(now);
    if (!this.records.allows(records, this.ratio) || !this.bytes.allows(bytes, this.ratio)) return false;
    this.records.take(records);
    this.bytes.take(bytes);
    return true;
  }

  /** Hands back bytes taken but not used (the unfilled part of a reserved aggregate). */
  refund(bytes: number): void {
    if (bytes > 0) this.bytes.give(bytes, this.ratio);
  }

  /** Milliseconds until `tryTake(records, bytes)` can succeed (0 when it can now). */
  waitMs(records: number, bytes: number, now: number): number {
    this.refill(now);
    return Math.max(this.records.msUntil(records, this.ratio), this.bytes.msUntil(bytes, this.ratio));
  }

  /** The shard throttled: slow down and drop any saved-up burst. */
  onThrottle(now: number): void {
    this.refill(now);
    this.records.empty();
    this.bytes.empty();
    if (now - this.lastDecrease >= DECREASE_INTERVAL_MS) {
      this.ratio = Math.max(MIN_RATIO, this.ratio * DECREASE);
      this.lastDecrease = now;
    }
    this.lastIncrease = now;
  }

  /** The shard accepted records without throttling: recover gradually. */
  onSuccess(now: number): void {
    if (this.ratio >= 1) {
      this.lastIncrease = now;
      return;
    }
    const steps = Math.floor((now - this.lastIncrease) / INCREASE_INTERVAL_MS);
    if (steps > 0) {
      this.refill(now);
      this.ratio = Math.min(1, this.ratio + steps * INCREASE);
      this.lastIncrease += steps * INCREASE_INTERVAL_MS;
    }
  }

  private refill(now: number): void {
    this.records.refill(now, this.ratio);
    this.bytes.refill(now, this.ratio);
  }
}

/** The per-shard limiters of one producer, created on first use and dropped for shards that closed. */
export class RateLimiter {
  private readonly limiters = new Map<string, ShardLimiter>();
  private readonly recordsPerSecond: number;
  private readonly bytesPerSecond: number;

  constructor(ratePercent: number) {
    this.recordsPerSecond = (SHARD_RECORDS_PER_SECOND * ratePercent) / 100;
    this.bytesPerSecond = (SHARD_BYTES_PER_SECOND * ratePercent) / 100;
  }

  get(shardId: string, now: number): ShardLimiter {
    let limiter = this.limiters.get(shardId);
    if (limiter === undefined) {
      limiter = new ShardLimiter(this.recordsPerSecond, this.bytesPerSecond, now);
      this.limiters.set(shardId, limiter);
    }
    return limiter;
  }

  /** Forgets limiters of shards no longer open. */
  retain(openShardIds: ReadonlySet<string>): void {
    for (const shardId of this.limiters.keys()) {
      if (!openShardIds.has(shardId)) this.limiters.delete(shardId);
    }
  }

  /** The current AIMD ratio per shard (for metrics). */
  ratios(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [shardId, limiter] of this.limiters) out[shardId] = limiter.ratio;
    return out;
  }
}
