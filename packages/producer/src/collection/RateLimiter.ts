/** Kinesis write limits per shard. */
export const SHARD_RECORDS_PER_SECOND = 1_000;
export const SHARD_BYTES_PER_SECOND = 1_048_576;

// Kinesis counts a shard's writes over a sliding second; the limiter counts the same way. Kinesis counts a
// write at some moment between our sending it and our reading its answer, so the limiter counts it from the
// answer (the latest that moment can be): a write sent a second after that answer can never share Kinesis's
// second with it, however the network delays either, and no margin is needed. A token bucket instead had to
// keep its burst below one aggregate (burst plus a second's refill under the limit), and every millisecond
// its timer ran late with a full bucket was allowance lost (92-93% of the limit reached at 95%).
const WINDOW_MS = 1_000;
// A write without an answer after this long stops counting (a bug that never reports an answer must not
// block its shard forever); requests are bounded by requestTimeoutMs far below this in practice.
const UNANSWERED_MS = 120_000;
// How long to wait before looking again when unanswered writes alone fill the window (an answer also wakes
// the producer, so this only bounds the wait).
const UNANSWERED_POLL_MS = 100;
// Pacing within the second: at most BURST_SHARE of a second's allowance is sent within any BURST_MS, so a
// shard's second is not spent in one burst (which makes one large request, a long answer, and then a pause).
// Twice the average rate: a producer that fell behind (a late timer) catches up instead of losing allowance.
const BURST_MS = 100;
const BURST_SHARE = 0.2;
// AIMD: a throttled shard's rate is multiplied by DECREASE (at most once per DECREASE_INTERVAL_MS, so one
// request's worth of throttled entries counts once) and grows back by INCREASE per INCREASE_INTERVAL_MS
// without throttling, never below MIN_RATIO nor above 1.
const DECREASE = 0.8;
const DECREASE_INTERVAL_MS = 100;
const INCREASE = 0.05;
const INCREASE_INTERVAL_MS = 50;
const MIN_RATIO = 0.05;

/** Allowance taken for one PutRecords entry: counted as sent until its request is answered, then from then. */
export interface Take {
  readonly owner: ShardLimiter;
  readonly takenAt: number;
  records: number;
  bytes: number;
  answered: boolean;
}

/**
 * Records and bytes sent to one shard within the last second, as Kinesis counts them, with
 * additive-increase/multiplicative-decrease of the allowed fraction when the shard throttles anyway.
 * Answered writes are kept oldest first (answers come in time order) with running totals; unanswered ones
 * are counted apart. Bounded: the record limit bounds the writes within a window.
 */
export class ShardLimiter {
  private times: number[] = [];
  private records: number[] = [];
  private bytes: number[] = [];
  private head = 0;
  private recordTotal = 0;
  private byteTotal = 0;
  private readonly unanswered = new Set<Take>();
  // After a write above the whole byte limit (a large record): nothing more until the shard's average is back
  // to its limit. Kinesis lets a shard burst to take one (up to 10 MiB), then refills at 1 MiB/s.
  private blockedUntil = 0;
  // Bytes taken within the last BURST_MS, by take time (oldest first).
  private recent: Take[] = [];
  private recentBytes = 0;
  private unansweredRecords = 0;
  private unansweredBytes = 0;
  /** Fraction of the configured rate currently allowed (AIMD state), in `[0.05, 1]`. */
  ratio = 1;
  private lastDecrease = Number.NEGATIVE_INFINITY;
  private lastIncrease: number;

  constructor(
    private readonly recordsPerSecond: number,
    private readonly bytesPerSecond: number,
    now: number,
  ) {
    this.lastIncrease = now;
  }

  /**
   * Takes the allowance for `records` Kinesis records of `bytes` bytes if the window has room for both.
   * A write above the whole byte limit (one large record) passes into an empty window, as Kinesis takes it.
   */
  tryTake(records: number, bytes: number, now: number): Take | undefined {
    if (!this.fits(records, bytes, now)) return undefined;
    return this.take(records, bytes, now);
  }

  /** Takes the allowance whether or not the window has room (for a write that must go now). */
  take(records: number, bytes: number, now: number): Take {
    const take: Take = { owner: this, takenAt: now, records, bytes, answered: false };
    this.unanswered.add(take);
    this.recent.push(take);
    this.recentBytes += bytes;
    this.unansweredRecords += records;
    this.unansweredBytes += bytes;
    return take;
  }

  /** Hands back bytes of a take that were not used (the unfilled part of a reserved aggregate). */
  refund(take: Take, bytes: number): void {
    const back = Math.min(Math.max(0, bytes), take.bytes);
    take.bytes -= back;
    if (this.recent.includes(take)) this.recentBytes -= back;
    if (take.answered) this.byteTotal -= back;
    else this.unansweredBytes -= back;
  }

  /** Gives a take back whole: nothing was sent with it. */
  cancel(take: Take): void {
    const index = this.recent.indexOf(take);
    if (index >= 0) {
      this.recent.splice(index, 1);
      this.recentBytes -= take.bytes;
    }
    if (take.answered || !this.unanswered.delete(take)) return;
    this.unansweredRecords -= take.records;
    this.unansweredBytes -= take.bytes;
  }

  /** The take's request was answered (or failed, or never went): it counts from `now` for a second. */
  answered(take: Take, now: number): void {
    if (take.answered || !this.unanswered.delete(take)) return;
    take.answered = true;
    const byteLimit = this.bytesPerSecond * this.ratio;
    if (take.bytes > byteLimit) {
      this.blockedUntil = Math.max(this.blockedUntil, now + (WINDOW_MS * take.bytes) / byteLimit);
    }
    this.unansweredRecords -= take.records;
    this.unansweredBytes -= take.bytes;
    this.times.push(now);
    this.records.push(take.records);
    this.bytes.push(take.bytes);
    this.recordTotal += take.records;
    this.byteTotal += take.bytes;
  }

  /** Milliseconds until `tryTake(records, bytes)` can succeed (0 when it can now). */
  waitMs(records: number, bytes: number, now: number): number {
    if (this.fits(records, bytes, now)) return 0;
    const byteLimit = this.bytesPerSecond * this.ratio;
    const first = this.recent[0];
    // Held by the pacing: until the oldest recent take leaves it.
    const pacing =
      first !== undefined && this.recentBytes + bytes > byteLimit * BURST_SHARE
        ? first.takenAt + BURST_MS - now + 1
        : 0;
    return Math.max(1, pacing, this.blockedUntil - now + 1, this.windowWaitMs(records, bytes, now));
  }

  // Until enough answered writes leave the second for these to fit (unanswered ones: until answers come).
  private windowWaitMs(records: number, bytes: number, now: number): number {
    const recordLimit = this.recordsPerSecond * this.ratio;
    const byteLimit = this.bytesPerSecond * this.ratio;
    let recordTotal = this.recordTotal + this.unansweredRecords;
    let byteTotal = this.byteTotal + this.unansweredBytes;
    const fits = (): boolean =>
      recordTotal + records <= recordLimit && (byteTotal + bytes <= byteLimit || byteTotal <= 0);
    if (fits()) return 0;
    for (let i = this.head; i < this.times.length; i++) {
      recordTotal -= this.records[i] as number;
      byteTotal -= this.bytes[i] as number;
      if (fits()) return (this.times[i] as number) + WINDOW_MS - now + 1;
    }
    return UNANSWERED_POLL_MS;
  }

  /** The shard throttled: slow down (a lower ratio lowers both limits at once). */
  onThrottle(now: number): void {
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
      this.ratio = Math.min(1, this.ratio + steps * INCREASE);
      this.lastIncrease += steps * INCREASE_INTERVAL_MS;
    }
  }

  private fits(records: number, bytes: number, now: number): boolean {
    if (now < this.blockedUntil) return false;
    this.expire(now);
    const recordTotal = this.recordTotal + this.unansweredRecords;
    const byteTotal = this.byteTotal + this.unansweredBytes;
    const byteLimit = this.bytesPerSecond * this.ratio;
    return (
      recordTotal + records <= this.recordsPerSecond * this.ratio &&
      (byteTotal + bytes <= byteLimit || byteTotal <= 0) &&
      (this.recentBytes + bytes <= byteLimit * BURST_SHARE || this.recentBytes <= 0)
    );
  }

  private expire(now: number): void {
    if (this.recent.length > 0) {
      let drop = 0;
      while (drop < this.recent.length && (this.recent[drop] as Take).takenAt <= now - BURST_MS) {
        this.recentBytes -= (this.recent[drop] as Take).bytes;
        drop += 1;
      }
      if (drop > 0) this.recent = this.recent.slice(drop);
    }
    const oldest = now - WINDOW_MS;
    while (this.head < this.times.length && (this.times[this.head] as number) <= oldest) {
      this.recordTotal -= this.records[this.head] as number;
      this.byteTotal -= this.bytes[this.head] as number;
      this.head += 1;
    }
    if (this.head === this.times.length) {
      this.times = [];
      this.records = [];
      this.bytes = [];
      this.head = 0;
      this.recordTotal = 0;
      this.byteTotal = 0;
    } else if (this.head > 1_024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.records = this.records.slice(this.head);
      this.bytes = this.bytes.slice(this.head);
      this.head = 0;
    }
    if (this.unanswered.size > 0) {
      for (const take of this.unanswered) {
        if (take.takenAt > now - UNANSWERED_MS) break;
        this.unanswered.delete(take);
        this.unansweredRecords -= take.records;
        this.unansweredBytes -= take.bytes;
      }
    }
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
