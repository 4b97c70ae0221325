/** A record as a shard keeps it for reads: the data stays base64, as it came in and as it goes out. */
export interface StoredRecord {
  readonly seq: bigint;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly explicitHashKey: string | undefined;
  /** Base64, exactly as PutRecords carried it, so a read never decodes or re-encodes it. */
  readonly data: string;
  /** Data + partition key bytes, what the read limits count. */
  readonly size: number;
  /** Wall-clock arrival (epoch ms): ApproximateArrivalTimestamp, AT_TIMESTAMP and MillisBehindLatest. */
  readonly arrival: number;
}

/**
 * The readable records of one shard, oldest first, bounded by bytes: when a write takes it past `maxBytes`
 * the oldest records are trimmed, as retention would expire them (counted in `trimmed`). Indexes are only
 * valid within one synchronous operation, since trimming compacts the array.
 */
export class ShardRecords {
  private items: StoredRecord[] = [];
  private head = 0;
  private bytes = 0;
  /** Records trimmed to stay under `maxBytes`. */
  trimmed = 0;
  /** Called after every append (subscriptions waiting for data). */
  private readonly listeners = new Set<() => void>();

  /** False when the simulator keeps nothing readable (`retainedBytesPerShard: 0`): writers skip `append`. */
  readonly keeps: boolean;

  constructor(private readonly maxBytes: number) {
    this.keeps = maxBytes > 0;
  }

  append(record: StoredRecord): void {
    this.items.push(record);
    this.bytes += record.size;
    // Never trims the newest record, so a record larger than the bound is still readable.
    while (this.bytes > this.maxBytes && this.items.length - this.head > 1) {
      this.bytes -= (this.items[this.head] as StoredRecord).size;
      this.head += 1;
      this.trimmed += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    for (const listener of this.listeners) listener();
  }

  /** The first readable index. */
  get start(): number {
    return this.head;
  }

  /** One past the last index. */
  get end(): number {
    return this.items.length;
  }

  at(index: number): StoredRecord {
    return this.items[index] as StoredRecord;
  }

  /** The newest record, if any is readable. */
  last(): StoredRecord | undefined {
    return this.items.length > this.head ? this.items[this.items.length - 1] : undefined;
  }

  /** Index of the first readable record whose sequence number is greater than `after`. */
  firstAfter(after: bigint): number {
    let low = this.head;
    let high = this.items.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.items[mid] as StoredRecord).seq <= after) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Index of the first readable record that arrived at or after `epochMs`. */
  firstArrivedAt(epochMs: number): number {
    let low = this.head;
    let high = this.items.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.items[mid] as StoredRecord).arrival < epochMs) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Calls `listener` after each append until the returned function is called. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
