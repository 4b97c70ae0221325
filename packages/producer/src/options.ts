import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { ConfigurationError } from './errors.js';
import type { ProducerLogger } from './types.js';
import { guardLogger } from './userCode.js';

const MiB = 1024 * 1024;
/** The largest record Kinesis accepts on any stream (data plus partition key). */
export const DEFAULT_MAX_RECORD_BYTES = MiB;
/** The largest record a stream can be raised to with UpdateMaxRecordSize. */
export const LARGEST_MAX_RECORD_BYTES = 10 * MiB;
/** PutRecords request limit (data plus partition keys) of a stream with the default record size. */
export const DEFAULT_MAX_REQUEST_BYTES = 5 * MiB;
/** PutRecords request limit of a stream whose maximum record size was raised above 1 MiB. */
export const LARGE_MAX_REQUEST_BYTES = 10 * MiB;

/** The PutRecords request limit that goes with a stream's maximum record size. */
export function requestLimitFor(maxRecordBytes: number): number {
  return maxRecordBytes > DEFAULT_MAX_RECORD_BYTES ? LARGE_MAX_REQUEST_BYTES : DEFAULT_MAX_REQUEST_BYTES;
}

/** Options of `KinesisProducer`. Validated by the constructor, which throws `ConfigurationError`. */
export interface ProducerOptions {
  /**
   * The caller's Kinesis client; the caller owns its lifecycle (`close()` does not destroy it). Its own
   * retries run inside each of the producer's attempts; `maxAttempts: 1` avoids stacking them (see README).
   */
  client: KinesisClient;
  /** The stream to write to. Exactly one of `streamName` and `streamARN` is required. */
  streamName?: string | undefined;
  /** The stream to write to, by ARN. Exactly one of `streamName` and `streamARN` is required. */
  streamARN?: string | undefined;
  /**
   * Pack user records bound for the same shard into KPL aggregates (read back by any KPL-aware consumer).
   * @defaultValue `true`
   */
  aggregation?: boolean | undefined;
  /**
   * Upper bound of one aggregate, data plus partition key, in bytes. 64 to `maxRecordBytes`.
   * @defaultValue `51_200` (the KPL's AggregationMaxSize), or `maxRecordBytes` if smaller
   */
  aggregationMaxBytes?: number | undefined;
  /**
   * Upper bound of user records per aggregate. At least 1.
   * @defaultValue `4_294_967_295` (the KPL's AggregationMaxCount: `aggregationMaxBytes` binds first)
   */
  aggregationMaxRecords?: number | undefined;
  /**
   * Upper bound of entries per PutRecords request. 1 to 500.
   * @defaultValue `500`
   */
  collectionMaxCount?: number | undefined;
  /**
   * Upper bound of one PutRecords request: data plus partition keys of all entries, in bytes. At least
   * `min(maxRecordBytes, 5 MiB)`, at most 10 MiB; never above the stream's request limit (5 MiB, or 10 MiB on
   * a stream whose maximum record size is above 1 MiB), whatever is set. A single record larger than this
   * goes in a request of its own.
   * @defaultValue the stream's request limit (`5_242_880` on a stream with 1 MiB records)
   */
  collectionMaxBytes?: number | undefined;
  /**
   * How long a record may wait for companions before its shard's buffer is sent. 0 to 60,000 ms.
   * @defaultValue `100`
   */
  maxBufferedTimeMs?: number | undefined;
  /**
   * How long a record may take, from `put` to acceptance by Kinesis, before it fails with `EXPIRED`.
   * Retries stop at this deadline. 100 to 86,400,000 ms.
   * @defaultValue `30_000`
   */
  recordTtlMs?: number | undefined;
  /**
   * Largest user record accepted by `put`: data plus UTF-8 partition key, in bytes. 1 to 10 MiB. When set,
   * it overrides the stream's own limit and DescribeStreamSummary is not called: set it above 1 MiB only
   * for a stream whose limit was raised with UpdateMaxRecordSize.
   * @defaultValue the stream's maximum record size, from DescribeStreamSummary (`MaxRecordSizeInKiB`);
   * `1_048_576` when the stream does not report one or the call is not allowed
   */
  maxRecordBytes?: number | undefined;
  /**
   * Bound on the bytes (data plus partition key) of records put and not yet settled. `put` beyond it is
   * rejected with `BUFFER_FULL`; `waitForCapacity()` and `writable()` wait instead. At least `maxRecordBytes`.
   * @defaultValue `33_554_432` (32 MiB)
   */
  maxBufferedBytes?: number | undefined;
  /**
   * Bound on the number of records put and not yet settled. At least 1.
   * @defaultValue `100_000`
   */
  maxBufferedRecords?: number | undefined;
  /**
   * PutRecords requests in flight at once. 1 to 1,000.
   * @defaultValue `16`
   */
  maxInFlightRequests?: number | undefined;
  /**
   * Wall-clock bound of one attempt of a PutRecords call, including any retries the SDK client makes
   * inside it; the call is aborted after it and counted as a retriable timeout. 100 to 600,000 ms.
   * @defaultValue `6_000` (the KPL's RequestTimeout)
   */
  requestTimeoutMs?: number | undefined;
  /**
   * Base of the exponential backoff (full jitter) between attempts of a record or a request.
   * 1 to 60,000 ms.
   * @defaultValue `100`
   */
  retryBaseDelayMs?: number | undefined;
  /**
   * Cap of that backoff. At least `retryBaseDelayMs`, at most 300,000 ms.
   * @defaultValue `5_000`
   */
  retryMaxDelayMs?: number | undefined;
  /**
   * How many times one PutRecords request is retried whole (after an HTTP error, timeout or reset)
   * before its records return to their shard buffers for a later request. 0 to 100.
   * @defaultValue `3`
   */
  maxRequestRetries?: number | undefined;
  /**
   * Per-shard write rate the producer allows itself, in percent of the shard limits (1,000 records/s and
   * 1 MiB/s), counted over a sliding second from each write's answer, the latest moment Kinesis can have
   * counted it (so 100 never exceeds the limit). The limiter backs off further while a shard throttles.
   * 1 to 10,000.
   * @defaultValue `100`
   */
  rateLimitPercent?: number | undefined;
  /**
   * Keep the order of records of one partition key even across retries: a later record of a key is never
   * written before an earlier one. Costs throughput on hot keys (one request in flight per key).
   * @defaultValue `false`
   */
  ordered?: boolean | undefined;
  /**
   * After a reshard, an aggregate built from the stale shard map may land on a shard that does not own all
   * of its members. `'outOfRange'` sends only those members again (right for consumers that filter user
   * records by hash range one by one, as `@shardline/aggregation` and `@shardline/consumer` do);
   * `'wholeAggregate'` sends every member of such an aggregate again (right for KCL 2.x, which drops the
   * whole aggregate; range-filtering consumers then see the in-range members twice).
   * @defaultValue `'outOfRange'`
   */
  reshardResend?: 'outOfRange' | 'wholeAggregate' | undefined;
  /**
   * Fail a record at its first `ProvisionedThroughputExceededException` instead of retrying it.
   * @defaultValue `false`
   */
  failIfThrottled?: boolean | undefined;
  /**
   * First delay before retrying a failed shard map refresh; grows x1.5 per failure. 1 to 60,000 ms.
   * @defaultValue `1_000` (as the KPL)
   */
  shardMapRefreshMinDelayMs?: number | undefined;
  /**
   * Cap of the shard map refresh backoff. At least `shardMapRefreshMinDelayMs`, at most 600,000 ms.
   * @defaultValue `30_000` (as the KPL)
   */
  shardMapRefreshMaxDelayMs?: number | undefined;
  /**
   * Age at which the shard map is listed again (ListShards with ShardFilter AT_LATEST: the open shards only,
   * cheap however long the stream's history) while records flow, so reshards made by others (UpdateShardCount,
   * SplitShard, on-demand streams scaling on their own) are followed before any record goes to a closed shard.
   * A map nothing has confirmed for this long (no PutRecords answer showed it right, e.g. after an idle
   * period) is stale: records wait for the listing before going out. An idle producer lists nothing.
   * 1,000 to 86,400,000 ms.
   * @defaultValue `60_000`
   */
  shardMapRefreshIntervalMs?: number | undefined;
  /**
   * Where diagnostics go. Payloads and credentials are never logged.
   * @defaultValue `undefined` (nothing is logged)
   */
  logger?: ProducerLogger | undefined;
}

/** The options with every default filled in. */
export interface ResolvedOptions {
  client: KinesisClient;
  streamName: string | undefined;
  streamARN: string | undefined;
  aggregation: boolean;
  aggregationMaxBytes: number;
  aggregationMaxRecords: number;
  collectionMaxCount: number;
  /** The option, or 5 MiB; only a bound when `collectionMaxBytesSet` (else the stream's request limit is). */
  collectionMaxBytes: number;
  collectionMaxBytesSet: boolean;
  maxBufferedTimeMs: number;
  recordTtlMs: number;
  /** The option, or 1 MiB (what every stream allows, and what other options are checked against). */
  maxRecordBytes: number;
  /** The option was not set: the limit is the stream's, from DescribeStreamSummary. */
  maxRecordBytesFromStream: boolean;
  maxBufferedBytes: number;
  maxBufferedRecords: number;
  maxInFlightRequests: number;
  requestTimeoutMs: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  maxRequestRetries: number;
  rateLimitPercent: number;
  ordered: boolean;
  reshardResend: 'outOfRange' | 'wholeAggregate';
  failIfThrottled: boolean;
  shardMapRefreshMinDelayMs: number;
  shardMapRefreshMaxDelayMs: number;
  shardMapRefreshIntervalMs: number;
  /** The caller's logger, guarded (see `guardLogger`): every level present, none that throws. */
  logger: Required<ProducerLogger> | undefined;
}

function integer(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < min || resolved > max) {
    throw new ConfigurationError(`${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return resolved;
}

function boolean(name: string, value: boolean | undefined, fallback: boolean): boolean {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'boolean') throw new ConfigurationError(`${name} must be a boolean`);
  return resolved;
}

function oneOf<T extends string>(name: string, value: T | undefined, fallback: T, allowed: readonly T[]): T {
  const resolved = value ?? fallback;
  if (!allowed.includes(resolved))
    throw new ConfigurationError(`${name} must be one of ${allowed.join(', ')}`);
  return resolved;
}

/** Fills in defaults and checks every option; throws `ConfigurationError` on the first bad one. */
export function resolveOptions(options: ProducerOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('options are required');
  const { client, streamName, streamARN, logger } = options;
  if (typeof client !== 'object' || client === null || typeof client.send !== 'function') {
    throw new ConfigurationError('client must be a KinesisClient');
  }
  if ((streamName === undefined) === (streamARN === undefined)) {
    throw new ConfigurationError('exactly one of streamName and streamARN is required');
  }
  if (
    streamName !== undefined &&
    (typeof streamName !== 'string' || !/^[a-zA-Z0-9_.-]{1,128}$/.test(streamName))
  ) {
    throw new ConfigurationError('streamName must be 1-128 characters of a-z, A-Z, 0-9, _ . -');
  }
  if (streamARN !== undefined && (typeof streamARN !== 'string' || !streamARN.startsWith('arn:'))) {
    throw new ConfigurationError('streamARN must be an ARN');
  }
  if (logger !== undefined && (typeof logger !== 'object' || logger === null)) {
    throw new ConfigurationError('logger must be an object with any of debug/info/warn/error');
  }
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    const method: unknown = logger?.[level];
    if (method !== undefined && typeof method !== 'function') {
      throw new ConfigurationError(`logger.${level} must be a function`);
    }
  }
  const maxRecordBytesOption =
    options.maxRecordBytes === undefined
      ? undefined
      : integer('maxRecordBytes', options.maxRecordBytes, MiB, 1, LARGEST_MAX_RECORD_BYTES);
  // The bound other options are checked against: the override, or the default every stream allows (an
  // aggregate or a buffer bound sized for 1 MiB works on any stream).
  const maxRecordBytes = maxRecordBytesOption ?? DEFAULT_MAX_RECORD_BYTES;
  const retryBaseDelayMs = integer('retryBaseDelayMs', options.retryBaseDelayMs, 100, 1, 60_000);
  const shardMapRefreshMinDelayMs = integer(
    'shardMapRefreshMinDelayMs',
    options.shardMapRefreshMinDelayMs,
    1_000,
    1,
    60_000,
  );
  return {
    client,
    streamName,
    streamARN,
    aggregation: boolean('aggregation', options.aggregation, true),
    aggregationMaxBytes: integer(
      'aggregationMaxBytes',
      options.aggregationMaxBytes,
      Math.max(64, Math.min(51_200, maxRecordBytes)),
      64,
      Math.max(64, maxRecordBytes),
    ),
    aggregationMaxRecords: integer(
      'aggregationMaxRecords',
      options.aggregationMaxRecords,
      4_294_967_295,
      1,
      4_294_967_295,
    ),
    collectionMaxCount: integer('collectionMaxCount', options.collectionMaxCount, 500, 1, 500),
    collectionMaxBytes: integer(
      'collectionMaxBytes',
      options.collectionMaxBytes,
      DEFAULT_MAX_REQUEST_BYTES,
      Math.min(maxRecordBytes, DEFAULT_MAX_REQUEST_BYTES),
      LARGE_MAX_REQUEST_BYTES,
    ),
    collectionMaxBytesSet: options.collectionMaxBytes !== undefined,
    maxBufferedTimeMs: integer('maxBufferedTimeMs', options.maxBufferedTimeMs, 100, 0, 60_000),
    recordTtlMs: integer('recordTtlMs', options.recordTtlMs, 30_000, 100, 86_400_000),
    maxRecordBytes,
    maxRecordBytesFromStream: maxRecordBytesOption === undefined,
    maxBufferedBytes: integer(
      'maxBufferedBytes',
      options.maxBufferedBytes,
      32 * MiB,
      maxRecordBytes,
      Number.MAX_SAFE_INTEGER,
    ),
    maxBufferedRecords: integer('maxBufferedRecords', options.maxBufferedRecords, 100_000, 1, 100_000_000),
    maxInFlightRequests: integer('maxInFlightRequests', options.maxInFlightRequests, 16, 1, 1_000),
    requestTimeoutMs: integer('requestTimeoutMs', options.requestTimeoutMs, 6_000, 100, 600_000),
    retryBaseDelayMs,
    retryMaxDelayMs: integer('retryMaxDelayMs', options.retryMaxDelayMs, 5_000, retryBaseDelayMs, 300_000),
    maxRequestRetries: integer('maxRequestRetries', options.maxRequestRetries, 3, 0, 100),
    rateLimitPercent: integer('rateLimitPercent', options.rateLimitPercent, 100, 1, 10_000),
    ordered: boolean('ordered', options.ordered, false),
    reshardResend: oneOf('reshardResend', options.reshardResend, 'outOfRange', [
      'outOfRange',
      'wholeAggregate',
    ] as const),
    failIfThrottled: boolean('failIfThrottled', options.failIfThrottled, false),
    shardMapRefreshMinDelayMs,
    shardMapRefreshMaxDelayMs: integer(
      'shardMapRefreshMaxDelayMs',
      options.shardMapRefreshMaxDelayMs,
      30_000,
      shardMapRefreshMinDelayMs,
      600_000,
    ),
    shardMapRefreshIntervalMs: integer(
      'shardMapRefreshIntervalMs',
      options.shardMapRefreshIntervalMs,
      60_000,
      1_000,
      86_400_000,
    ),
    logger: guardLogger(logger),
  };
}
