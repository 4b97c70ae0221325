/** A user record to put. */
export interface ProducerRecord {
  /** Routes the record (MD5 of its UTF-8 bytes) unless `explicitHashKey` is set. 1 to 256 characters. */
  partitionKey: string;
  /** The payload. Strings are encoded as UTF-8. A `Uint8Array` is referenced until the put settles. */
  data: Uint8Array | string;
  /** A decimal hash key (`0` to `2^128 - 1`, no sign, no leading zeros) that overrides routing. */
  explicitHashKey?: string | undefined;
}

/** One try at sending a record, as the KPL's `Attempt`. */
export interface Attempt {
  /** Milliseconds between the record entering the producer (or the previous attempt ending) and this one. */
  delayMs: number;
  /** Milliseconds the PutRecords call took. */
  durationMs: number;
  /** Whether Kinesis accepted the record in this attempt. */
  success: boolean;
  /** The error code when it failed (`ProvisionedThroughputExceededException`, `InternalFailure`, ...). */
  errorCode?: string | undefined;
  /** The error message when it failed. Never contains payloads. */
  errorMessage?: string | undefined;
  /** How many HTTP attempts the AWS SDK made inside this one (its own retries), when it reports them. */
  sdkAttempts?: number | undefined;
}

/** Where Kinesis stored a record: what `put` resolves with. */
export interface PutResult {
  /** The shard that holds the record (it owns the record's hash key). */
  shardId: string;
  /** The sequence number of the Kinesis record (the aggregate, when the record was aggregated). */
  sequenceNumber: string;
  /** The record's index in its aggregate; `undefined` when it was sent as a plain Kinesis record. */
  subSequenceNumber?: number | undefined;
  /**
   * Every attempt, oldest first; the last one succeeded. Read-only: records settled by the same request
   * with the same wait share one frozen array.
   */
  readonly attempts: readonly Attempt[];
}

/** What `flush()` and `close()` resolve with: how the records put before the call settled. */
export interface FlushResult {
  /** Records that Kinesis accepted. */
  succeeded: number;
  /** Records whose `put` rejected. */
  failed: number;
}

/**
 * A pluggable logger. Nothing is logged unless one is given; payloads and credentials never are. Every
 * method is optional, as for `@shardline/consumer`'s `Logger` (the same shape): `console`, pino or a logger
 * with only `warn` and `error` all fit; a level it lacks is not logged.
 */
export interface ProducerLogger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
  error?(message: string, fields?: Record<string, unknown>): void;
}

/** An open shard as the producer's shard map knows it. */
export interface ShardRange {
  shardId: string;
  startingHashKey: bigint;
  endingHashKey: bigint;
}
