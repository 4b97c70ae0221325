/** Per-shard write limits over a sliding window. */
export interface ShardLimits {
  /** Records a shard accepts per window. @defaultValue `1_000` */
  recordsPerSecond?: number;
  /** Bytes (data + partition key) a shard accepts per window. @defaultValue `1_048_576` */
  bytesPerSecond?: number;
  /** The window length. @defaultValue `1_000` */
  windowMs?: number;
}

/**
 * Accepted writes of one shard over the last `windowMs`, in a ring buffer (the record limit bounds how many
 * can be inside the window), with a running byte total. Real Kinesis allows some short bursts; this does not.
 */
export class ShardWindow {
  private readonly times: Float64Array;
  private readonly sizes: Float64Array;
  private head = 0;
  private count = 0;
  private bytes = 0;

  constructor(
    private readonly maxRecords: number,
    private readonly maxBytes: number,
    private readonly windowMs: number,
  ) {
    this.times = new Float64Array(maxRecords);
    this.sizes = new Float64Array(maxRecords);
  }

  /** Records the write and returns true if it fits the window at `now`, else returns false. */
  tryAccept(now: number, size: number): boolean {
    const capacity = this.maxRecords;
    const oldest = now - this.windowMs;
    while (this.count > 0 && (this.times[this.head] ?? 0) <= oldest) {
      this.bytes -= this.sizes[this.head] ?? 0;
      this.head = (this.head + 1) % capacity;
      this.count -= 1;
    }
    // A record larger than the window's byte limit (a large record, up to 10 MiB) is accepted alone, into an
    // empty window, and fills it: the shard's throughput is spent on it, but it is never refused forever.
    if (this.count >= capacity || (this.bytes + size > this.maxBytes && this.count > 0)) return false;
    const slot = (this.head + this.count) % capacity;
    this.times[slot] = now;
    this.sizes[slot] = size;
    this.count += 1;
    this.bytes += size;
    return true;
  }
}
