import type { UserRecord } from './types.js';

/** Every error code this package throws. Stable: match on `code`, not on messages. */
export type AggregationErrorCode =
  | 'RECORD_TOO_LARGE'
  | 'INVALID_RECORD'
  | 'INVALID_HASH_KEY'
  | 'CONFIGURATION'
  | 'AGGREGATION_FORMAT'
  | 'CHECKSUM_MISMATCH'
  | 'USER_RECORD_FAILED';

/** Base class of every error this package throws. */
export class ShardlineAggregationError extends Error {
  /** Machine-readable reason. */
  readonly code: AggregationErrorCode;
  /**
   * Whether retrying the same call can succeed. `false` for every error about the input (it is at fault);
   * a {@link UserRecordHandlerError} carries its handler error's own answer.
   */
  readonly retriable: boolean;

  constructor(
    code: AggregationErrorCode,
    message: string,
    options?: { cause?: unknown; retriable?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options?.retriable ?? false;
  }
}

/**
 * A user record that cannot fit in one Kinesis record even on its own (data plus partition key, in UTF-8
 * bytes, over `maxBytes`). Thrown by `RecordAggregator.add`; nothing pending is affected.
 */
export class RecordTooLargeError extends ShardlineAggregationError {
  /** Bytes the smallest Kinesis record holding this user record would take. */
  readonly size: number;
  /** The limit it was checked against. */
  readonly maxBytes: number;

  constructor(size: number, maxBytes: number) {
    super('RECORD_TOO_LARGE', `user record needs ${size} bytes, more than maxBytes ${maxBytes}`);
    this.size = size;
    this.maxBytes = maxBytes;
  }
}

/** A user record or Kinesis record that is not well-formed (for example an empty partition key, no data). */
export class InvalidRecordError extends ShardlineAggregationError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_RECORD', message, options);
  }
}

/**
 * An explicit hash key that is not a decimal integer in 0..2^128-1, or a hash key range that is not valid
 * (not one of the accepted shapes, a bound missing or outside 0..2^128-1, start above end). The message names
 * the offending value.
 */
export class InvalidHashKeyError extends ShardlineAggregationError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_HASH_KEY', message, options);
  }
}

/**
 * An option outside its documented range (for example `outOfRange` not `'keep'`, `'flag'` or `'drop'`). Code
 * `CONFIGURATION`, as in the producer and consumer packages.
 */
export class ConfigurationError extends ShardlineAggregationError {
  constructor(message: string) {
    super('CONFIGURATION', message);
  }
}

/**
 * The former name of {@link ConfigurationError}, kept so code written against it keeps compiling.
 * @deprecated Use `ConfigurationError`; its code is `CONFIGURATION` (it was `INVALID_OPTIONS`).
 */
export const InvalidOptionsError = ConfigurationError;
/** @deprecated Use `ConfigurationError`. */
export type InvalidOptionsError = ConfigurationError;

/**
 * An aggregated record whose protobuf body is malformed (truncated, bad varint, index out of table range,
 * required field missing). Thrown only by `deaggregate` with `strict: true`; otherwise the record is passed
 * through whole, flagged `aggregationError: 'decode'`.
 */
export class AggregationFormatError extends ShardlineAggregationError {
  /** Byte offset in the protobuf body (after the magic) where decoding failed. */
  readonly offset: number;

  constructor(message: string, offset: number) {
    super('AGGREGATION_FORMAT', `${message} at byte ${offset}`);
    this.offset = offset;
  }
}

/**
 * An aggregated record whose MD5 trailer does not match its body. Thrown only by `deaggregate` with
 * `strict: true`; otherwise the record is passed through whole, flagged `aggregationError: 'checksum'`.
 */
export class ChecksumMismatchError extends ShardlineAggregationError {
  constructor() {
    super('CHECKSUM_MISMATCH', 'aggregated record MD5 checksum does not match its body');
  }
}

/**
 * A user record handler failed (threw or rejected) inside `kplRecordHandler`: the enclosing Kinesis record
 * (the aggregate) is then reported failed to Powertools. `cause` is what the handler threw; `retriable` is
 * the cause's own boolean `retriable` when it has one, else `true` (Lambda retries the record anyway).
 */
export class UserRecordHandlerError extends ShardlineAggregationError {
  /** The user record whose handler failed (its `subSequenceNumber` says where in the aggregate). */
  readonly record: UserRecord;

  constructor(record: UserRecord, cause: unknown) {
    const causeRetriable = (cause as { retriable?: unknown } | null | undefined)?.retriable;
    const reason = cause instanceof Error ? cause.message : describeValue(cause);
    super(
      'USER_RECORD_FAILED',
      `user record ${record.sequenceNumber}/${record.subSequenceNumber} failed: ${reason}`,
      { cause, retriable: typeof causeRetriable === 'boolean' ? causeRetriable : true },
    );
    this.record = record;
  }
}

/**
 * A short, safe rendering of a value for an error message: strings quoted, bigints with `n`, objects as JSON
 * (bigints inside too), cut at 200 characters. Never throws.
 * @internal
 */
export function describeValue(value: unknown): string {
  let text: string;
  switch (typeof value) {
    case 'string':
      text = JSON.stringify(value);
      break;
    case 'bigint':
      text = `${value}n`;
      break;
    case 'object':
    case 'function':
      try {
        text =
          JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ??
          Object.prototype.toString.call(value);
      } catch {
        text = Object.prototype.toString.call(value);
      }
      break;
    case 'undefined':
      text = 'undefined';
      break;
    default:
      text = `${typeof value} ${String(value)}`;
  }
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}
