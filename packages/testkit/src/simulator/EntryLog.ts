/** An entry the simulator accepted (wrote to a shard). */
export interface AcceptedEntry {
  readonly streamName: string;
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly explicitHashKey: string | undefined;
  /** The decoded data; undefined when the log keeps no data. */
  readonly data: Buffer | undefined;
}

/** What the simulator remembers of accepted entries. */
export interface EntryLogOptions {
  /** Keep every accepted entry (`'entries'`) or only the counters (`'counts'`, for benchmarks). @defaultValue `'entries'` */
  mode?: 'entries' | 'counts';
  /** Keep the decoded data of each entry. @defaultValue `true` */
  keepData?: boolean;
  /**
   * Keep at most this many entries; later ones are counted in `droppedFromLog` (check it is 0 before
   * trusting the log for a no-loss assertion).
   * @defaultValue `200_000`
   */
  maxEntries?: number;
}

export class EntryLog {
  readonly entries: AcceptedEntry[] = [];
  dropped = 0;
  readonly keepEntries: boolean;
  readonly keepData: boolean;
  private readonly maxEntries: number;

  constructor(options: EntryLogOptions = {}) {
    this.keepEntries = (options.mode ?? 'entries') === 'entries';
    this.keepData = this.keepEntries && (options.keepData ?? true);
    this.maxEntries = options.maxEntries ?? 200_000;
  }

  add(entry: AcceptedEntry): void {
    if (this.entries.length < this.maxEntries) this.entries.push(entry);
    else this.dropped += 1;
  }

  clear(): void {
    this.entries.length = 0;
    this.dropped = 0;
  }
}
