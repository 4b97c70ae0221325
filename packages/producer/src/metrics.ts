/** A running summary of observed values. */
export interface Stat {
  count: number;
  sum: number;
  /** `0` when `count` is 0. */
  min: number;
  /** `0` when `count` is 0. */
  max: number;
  /** `0` when `count` is 0. */
  average: number;
}

/**
 * A snapshot of the producer's counters since it was created, named as the KPL names its CloudWatch
 * metrics so dashboards and runbooks carry over. Times are milliseconds; data sizes are bytes.
 */
export interface ProducerMetrics {
  /** Records accepted by `put` (validation failures and BUFFER_FULL rejections excluded). */
  UserRecordsReceived: number;
  /** Records put and not yet settled. */
  UserRecordsPending: number;
  /** Records Kinesis accepted. */
  UserRecordsPut: number;
  /** Data plus partition key bytes of the records Kinesis accepted. */
  UserRecordsDataPut: number;
  /** Records whose `put` rejected after being accepted (expired or failed by the service). */
  UserRecordsFailed: number;
  /** Kinesis records (aggregates or single records) Kinesis accepted. */
  KinesisRecordsPut: number;
  /** Data plus partition key bytes of those Kinesis records. */
  KinesisRecordsDataPut: number;
  /** Failures by code: per-entry error codes and whole-request errors, each counted per occurrence. */
  ErrorsByCode: Record<string, number>;
  /** Sum of `ErrorsByCode`. */
  AllErrors: number;
  /** Failed attempts per settled record. */
  RetriesPerRecord: Stat;
  /** Records that failed with EXPIRED. */
  UserRecordExpired: number;
  /** Time from `put` to the record's first send. */
  BufferingTime: Stat;
  /** Duration of PutRecords calls. */
  RequestTime: Stat;
  /** User records per accepted Kinesis record. */
  UserRecordsPerKinesisRecord: Stat;
  /** Entries per PutRecords request sent. */
  KinesisRecordsPerPutRecordsRequest: Stat;
  /** User records per PutRecords request sent. */
  UserRecordsPerPutRecordsRequest: Stat;
  /** Bytes of records put and not yet settled (bounded by `maxBufferedBytes`). */
  BufferedBytes: number;
  /** PutRecords requests in flight. */
  InFlightRequests: number;
  /** `ProvisionedThroughputExceededException` entries per shard: names a hot shard. */
  ThrottlesByShard: Record<string, number>;
  /** The rate limiter's current share of the configured rate per shard (1 = full, lower while throttled). */
  RateLimitByShard: Record<string, number>;
  /** Successful shard map loads (the first one included). */
  ShardMapRefreshes: number;
}

/** A mutable `Stat`. */
export class StatAccumulator {
  private count = 0;
  private sum = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;

  add(value: number): void {
    this.count += 1;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  snapshot(): Stat {
    if (this.count === 0) return { count: 0, sum: 0, min: 0, max: 0, average: 0 };
    return { count: this.count, sum: this.sum, min: this.min, max: this.max, average: this.sum / this.count };
  }
}

/** The producer's counters. Internal; `snapshot` copies them out. */
export class MetricsRecorder {
  userRecordsReceived = 0;
  userRecordsPut = 0;
  userRecordsDataPut = 0;
  userRecordsFailed = 0;
  kinesisRecordsPut = 0;
  kinesisRecordsDataPut = 0;
  userRecordExpired = 0;
  shardMapRefreshes = 0;
  readonly errorsByCode = new Map<string, number>();
  readonly throttlesByShard = new Map<string, number>();
  readonly retriesPerRecord = new StatAccumulator();
  readonly bufferingTime = new StatAccumulator();
  readonly requestTime = new StatAccumulator();
  readonly userRecordsPerKinesisRecord = new StatAccumulator();
  readonly kinesisRecordsPerRequest = new StatAccumulator();
  readonly userRecordsPerRequest = new StatAccumulator();

  error(code: string, count = 1): void {
    this.errorsByCode.set(code, (this.errorsByCode.get(code) ?? 0) + count);
  }

  throttle(shardId: string): void {
    this.throttlesByShard.set(shardId, (this.throttlesByShard.get(shardId) ?? 0) + 1);
  }

  snapshot(live: {
    pending: number;
    bufferedBytes: number;
    inFlightRequests: number;
    rateLimitByShard: Record<string, number>;
  }): ProducerMetrics {
    let allErrors = 0;
    for (const count of this.errorsByCode.values()) allErrors += count;
    return {
      UserRecordsReceived: this.userRecordsReceived,
      UserRecordsPending: live.pending,
      UserRecordsPut: this.userRecordsPut,
      UserRecordsDataPut: this.userRecordsDataPut,
      UserRecordsFailed: this.userRecordsFailed,
      KinesisRecordsPut: this.kinesisRecordsPut,
      KinesisRecordsDataPut: this.kinesisRecordsDataPut,
      ErrorsByCode: Object.fromEntries(this.errorsByCode),
      AllErrors: allErrors,
      RetriesPerRecord: this.retriesPerRecord.snapshot(),
      UserRecordExpired: this.userRecordExpired,
      BufferingTime: this.bufferingTime.snapshot(),
      RequestTime: this.requestTime.snapshot(),
      UserRecordsPerKinesisRecord: this.userRecordsPerKinesisRecord.snapshot(),
      KinesisRecordsPerPutRecordsRequest: this.kinesisRecordsPerRequest.snapshot(),
      UserRecordsPerPutRecordsRequest: this.userRecordsPerRequest.snapshot(),
      BufferedBytes: live.bufferedBytes,
      InFlightRequests: live.inFlightRequests,
      ThrottlesByShard: Object.fromEntries(this.throttlesByShard),
      RateLimitByShard: live.rateLimitByShard,
      ShardMapRefreshes: this.shardMapRefreshes,
    };
  }
}
