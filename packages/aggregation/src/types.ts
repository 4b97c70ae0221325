/** A user record to aggregate. */
export interface UserRecordInput {
  /** Routes the record to a shard (MD5 of its UTF-8 bytes) unless `explicitHashKey` is set. 1-256 chars. */
  partitionKey: string;
  /** A decimal 128-bit hash key (`0` to `2^128 - 1`, no sign, no leading zeros) that overrides routing. */
  explicitHashKey?: string | undefined;
  /**
   * The payload. Strings are encoded as UTF-8. A `Uint8Array` is referenced, not copied, until the aggregate
   * holding it is returned: do not mutate it in between.
   */
  data: Uint8Array | string;
}

/** A Kinesis record produced by `RecordAggregator`, ready to be one PutRecords entry. */
export interface AggregatedRecord {
  /** `"a"` for an aggregate (as the KPL does); the user's own key for a single record emitted raw. */
  partitionKey: string;
  /**
   * For an aggregate: the first user record's hash key in decimal, so the whole aggregate lands on that
   * record's shard. For a record emitted raw: the user's explicit hash key, if any.
   */
  explicitHashKey?: string | undefined;
  /** The Kinesis record data: KPL framing (magic, protobuf, MD5) for an aggregate, else the user's bytes. */
  data: Uint8Array;
  /** How many user records it holds. */
  count: number;
}

/** Options of `RecordAggregator`. */
export interface RecordAggregatorOptions {
  /**
   * Upper bound, in bytes, of each produced Kinesis record: data plus UTF-8 partition key, which is how
   * Kinesis counts toward its record size limit. Integer in 64..10,485,760.
   * @defaultValue `1_048_576` (1 MiB, the Kinesis record limit)
   */
  maxBytes?: number;
  /**
   * Upper bound of user records per aggregate. Integer of at least 1.
   * @defaultValue `4_294_967_295` (the KPL's AggregationMaxCount default; `maxBytes` binds first)
   */
  maxRecords?: number;
  /**
   * Emit an aggregate holding a single user record as that record itself (no framing, its own partition
   * key and explicit hash key), as the KPL does. Set to `false` to always frame. Data that would itself look
   * like a valid aggregate is always framed, so consumers cannot mistake it.
   * @defaultValue `true`
   */
  emitSingleRecordRaw?: boolean;
}

/**
 * A shard's closed hash key range in this package's spelling: decimal strings (as ListShards gives them) or
 * bigints, each in 0..2^128-1, start not above end.
 */
export interface HashKeyRange {
  startingHashKey: string | bigint;
  endingHashKey: string | bigint;
}

/**
 * The AWS SDK's `HashKeyRange` (of a `Shard` from ListShards or DescribeStream), typed structurally. Both
 * bounds are required at run time, although the SDK types them as optional.
 */
export interface SdkHashKeyRange {
  StartingHashKey?: string | bigint | undefined;
  EndingHashKey?: string | bigint | undefined;
}

/** An AWS SDK `Shard`, typed structurally: only its `HashKeyRange` is read. */
export interface SdkShardHashKeyRange {
  HashKeyRange?: SdkHashKeyRange | undefined;
}

/**
 * Every shape a hash key range is accepted in: {@link HashKeyRange} (`{ startingHashKey, endingHashKey }`),
 * the SDK's `HashKeyRange` (`{ StartingHashKey, EndingHashKey }`), or an SDK `Shard` holding one. Bounds are
 * decimal strings or bigints. Anything else, a missing bound, a bound outside 0..2^128-1, or a start above
 * the end is an `InvalidHashKeyError` (see `parseHashKeyRange`).
 */
export type HashKeyRangeInput = HashKeyRange | SdkHashKeyRange | SdkShardHashKeyRange;

/** A validated hash key range, as `parseHashKeyRange` returns it: `start <= end`, both in 0..2^128-1. */
export interface ParsedHashKeyRange {
  start: bigint;
  end: bigint;
}

/**
 * What `deaggregate` does with a user record whose hash key lies outside `hashKeyRange`: return it as is
 * (`'keep'`), return it marked `outOfRange: true` (`'flag'`), or leave it out (`'drop'`). All three count it
 * in `DeaggregationResult.outOfRange`.
 */
export type OutOfRangePolicy = 'keep' | 'flag' | 'drop';

/** Why a record that looked aggregated was passed through whole. */
export type AggregationErrorKind = 'checksum' | 'decode';

/** A user record recovered from a Kinesis record. */
export interface UserRecord {
  /** The user record's partition key (the Kinesis record's own key if it was not aggregated). */
  partitionKey: string;
  /** The user record's explicit hash key; `undefined` when it has none. */
  explicitHashKey?: string | undefined;
  /** The payload: a view into the Kinesis record's bytes, not a copy. */
  data: Uint8Array;
  /** The enclosing Kinesis record's sequence number. */
  sequenceNumber: string;
  /** Index of the user record in its aggregate; `0` for a record that was not aggregated. */
  subSequenceNumber: number;
  /** Whether the user record came out of a KPL aggregate. */
  aggregated: boolean;
  /** When Kinesis received the enclosing record. Shared by all user records of one aggregate. */
  approximateArrivalTimestamp?: Date | undefined;
  /**
   * Set only on a record that carried the aggregation magic but was passed through whole because its MD5
   * did not match (`'checksum'`) or its body did not decode (`'decode'`). Worth alerting on.
   */
  aggregationError?: AggregationErrorKind | undefined;
  /**
   * `true` only on a user record whose hash key lies outside `hashKeyRange`, returned because `outOfRange`
   * is `'flag'` (the default). Such a record was aggregated with records of another shard (typically across
   * a reshard). If its producer also sent it to the shard that owns its key (Shardline's producer does after a
   * reshard; the KPL does not), that shard's reader delivers it too; if not, this is its only delivery.
   */
  outOfRange?: boolean | undefined;
}

/** Options of `deaggregate`. */
export interface DeaggregateOptions {
  /**
   * Check each aggregate's MD5 trailer.
   * @defaultValue `true`
   */
  verifyChecksum?: boolean;
  /**
   * The shard's hash key range: user records of an aggregate whose hash key lies outside it (after a
   * reshard) are handled by `outOfRange`, one by one (KCL 2.x drops the whole aggregate). Records that were
   * not aggregated are never judged (Kinesis put them on this shard itself). Accepts
   * `{ startingHashKey, endingHashKey }`, the SDK's `HashKeyRange` or its `Shard`, with decimal strings or
   * bigints; validated on every call.
   * @throws InvalidHashKeyError when it is not a valid range (a bound missing, not a decimal in 0..2^128-1,
   * or start above end), whatever the record.
   * @defaultValue `undefined` (no user record is judged)
   */
  hashKeyRange?: HashKeyRangeInput | undefined;
  /**
   * What to do with a user record outside `hashKeyRange`: `'keep'` returns it unmarked, `'flag'` returns it
   * with `outOfRange: true`, `'drop'` leaves it out. Every such record is counted in
   * `DeaggregationResult.outOfRange`, and the dropped ones also in `droppedOutOfRange`. Without a
   * `hashKeyRange` nothing is judged.
   * @throws InvalidOptionsError for any other value.
   * @defaultValue `'flag'`
   */
  outOfRange?: OutOfRangePolicy | undefined;
  /**
   * Throw `ChecksumMismatchError` / `AggregationFormatError` for a bad aggregate instead of passing it
   * through whole as the KCL does.
   * @defaultValue `false`
   */
  strict?: boolean;
}

/** What `deaggregateWithStats` returns. */
export interface DeaggregationResult {
  /** The user records, in order (without the dropped ones). */
  records: UserRecord[];
  /** How many user records lay outside `hashKeyRange`, whatever `outOfRange` did with them. */
  outOfRange: number;
  /** How many of those were left out of `records` (non-zero only with `outOfRange: 'drop'`). */
  droppedOutOfRange: number;
}

/** A Kinesis record as the AWS SDK v3 returns it from GetRecords (`_Record`), typed structurally. */
export interface SdkKinesisRecord {
  Data?: Uint8Array | undefined;
  PartitionKey?: string | undefined;
  SequenceNumber?: string | undefined;
  ApproximateArrivalTimestamp?: Date | undefined;
}

/** A Kinesis record as a Lambda event carries it (`KinesisStreamRecordPayload`), typed structurally. */
export interface LambdaKinesisRecordPayload {
  /** Base64. */
  data: string;
  partitionKey: string;
  sequenceNumber: string;
  /** Seconds since the epoch, with fractions. */
  approximateArrivalTimestamp?: number | undefined;
}

/** Either shape of Kinesis record `deaggregate` accepts. */
export type KinesisRecordInput = SdkKinesisRecord | LambdaKinesisRecordPayload;
