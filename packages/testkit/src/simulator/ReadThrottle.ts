import { TokenBucket } from './TokenBucket.js';

/** Per-shard GetRecords limits, shared by every polling reader of the shard. */
export interface ReadLimits {
  /** GetRecords calls a shard answers per second (sliding one-second window). @defaultValue `5` */
  callsPerSecond?: number;
  /**
   * Bytes (data + partition key) a shard returns per second. One call may return up to 10 MiB, which then
   * blocks the shard's reads until the average is back under the rate. @defaultValue `2_097_152`
   */
  bytesPerSecond?: number;
}

/** A shard's GetRecords calls over the last second (a ring of call times) and its byte budget. */
export class ReadThrottle {
  private readonly calls: Float64Array;
  private head = 0;
  private count = 0;
  private readonly bytes: TokenBucket;

  constructor(limits: Required<ReadLimits>) {
    this.calls = new Float64Array(limits.callsPerSecond);
    this.bytes = new TokenBucket(limits.bytesPerSecond);
  }

  /** Counts a call at `now` (ms) and returns true if the shard may answer it, else returns false. */
  tryCall(now: number): boolean {
    const capacity = this.calls.length;
    while (this.count > 0 && (this.calls[this.head] ?? 0) <= now - 1000) {
      this.head = (this.head + 1) % capacity;
      this.count -= 1;
    }
    if (this.count >= capacity || !this.bytes.available(now)) return false;
    this.calls[(this.head + this.count) % capacity] = now;
    this.count += 1;
    return true;
  }

  /** Charges the bytes an answered call returned. */
  charge(now: number, bytes: number): void {
    this.bytes.spend(now, bytes);
  }
}
