import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import type { ExtendedSequenceNumber } from './types.js';

/** Codes carried by every error this package throws or reports. */
export type ConsumerErrorCode =
  | 'CONFIGURATION'
  | 'CHECKPOINT_OUT_OF_RANGE'
  | 'LEASE_LOST'
  | 'CHECKPOINT_FAILED'
  | 'PROCESSOR_FAILED'
  | 'RECORD_FAILED'
  | 'DEAD_LETTER_FAILED'
  | 'SHARD_END_NOT_CHECKPOINTED'
  | 'LEASE_TABLE'
  | 'FETCH_FAILED'
  | 'STREAM'
  | 'STOPPED'
  | 'INTERNAL';

/** Base class: every error has a stable `code`, says whether retrying can help, and keeps its `cause`. */
export class ConsumerError extends Error {
  readonly code: ConsumerErrorCode;
  readonly retriable: boolean;
  constructor(
    code: ConsumerErrorCode,
    message: string,
    options: { retriable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** An option is missing, has the wrong type or is out of range. Thrown by the constructor. */
export class ConfigurationError extends ConsumerError {
  constructor(message: string) {
    super('CONFIGURATION', message);
  }
}

/**
 * A checkpoint outside [last checkpoint, largest delivered] was requested. Nothing was written. A programming
 * error in the processor, so not retriable.
 */
export class CheckpointOutOfRangeError extends ConsumerError {
  constructor(message: string) {
    super('CHECKPOINT_OUT_OF_RANGE', message);
  }
}

/**
 * This worker no longer holds the lease (it expired, was stolen, or the consumer is stopping). Nothing was
 * written: the new owner's progress is never overwritten.
 */
export class LeaseLostError extends ConsumerError {
  readonly shardId: string;
  constructor(shardId: string, message = `lease for ${shardId} is no longer held by this worker`) {
    super('LEASE_LOST', message);
    this.shardId = shardId;
  }
}

/** The checkpoint could not be written after bounded retries (throttling, network). May be retried. */
export class CheckpointFailedError extends ConsumerError {
  constructor(message: string, cause: unknown) {
    super('CHECKPOINT_FAILED', withCause(message, cause), {
      retriable: !(cause instanceof ConsumerError) || cause.retriable,
      cause,
    });
  }
}

/** The processor threw (or rejected) while handling a batch. Reported through the `processingError` event. */
export class ProcessorError extends ConsumerError {
  readonly shardId: string;
  constructor(shardId: string, cause: unknown) {
    super('PROCESSOR_FAILED', `processor failed on shard ${shardId}`, { retriable: true, cause });
    this.shardId = shardId;
  }
}

/**
 * Thrown by a processor to name the user record that failed. It says that every record handed to the same
 * call before `record` was processed, and that `record` was not: retries start at `record`, and after
 * `processingRetry.maxAttempts` failures of that same record it goes to the `deadLetter` hook (or is
 * skipped with `onProcessingFailure: 'skip'`, or blocks the shard with the default `'retry'`). Pass the
 * `UserRecord` itself (or its `sequenceNumber` and `subSequenceNumber`): inside a KPL aggregate the
 * sub-sequence number tells its user records apart.
 *
 * ```ts
 * processor: async (records) => {
 *   for (const record of records) {
 *     try { await handle(record); } catch (error) { throw new RecordFailedError(record, error); }
 *   }
 * }
 * ```
 */
export class RecordFailedError extends ConsumerError {
  /** The record that failed (a copy of its position, not the payload). */
  readonly record: ExtendedSequenceNumber;
  constructor(record: ExtendedSequenceNumber, cause?: unknown) {
    super(
      'RECORD_FAILED',
      withCause(`record ${record.sequenceNumber}/${record.subSequenceNumber} failed`, cause),
      { retriable: true, cause },
    );
    this.record = { sequenceNumber: record.sequenceNumber, subSequenceNumber: record.subSequenceNumber };
  }
}

/**
 * The record a processor named as failed: a {@link RecordFailedError}, also one from another copy of this
 * package (recognised by its code and record), else `undefined`.
 */
export function failedRecordOf(error: unknown): ExtendedSequenceNumber | undefined {
  if (error instanceof RecordFailedError) return error.record;
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, record } = error as { code?: unknown; record?: Partial<ExtendedSequenceNumber> };
  if (code !== 'RECORD_FAILED' || typeof record !== 'object' || record === null) return undefined;
  const { sequenceNumber, subSequenceNumber } = record;
  if (typeof sequenceNumber !== 'string' || !/^\d+$/.test(sequenceNumber)) return undefined;
  if (
    typeof subSequenceNumber !== 'number' ||
    !Number.isInteger(subSequenceNumber) ||
    subSequenceNumber < 0
  ) {
    return undefined;
  }
  return { sequenceNumber, subSequenceNumber };
}

/**
 * The `deadLetter` hook threw (or rejected) for a record. Reported through `processingError`; the hook is
 * called again with backoff for the same record until it resolves: a record is never dropped silently.
 */
export class DeadLetterFailedError extends ConsumerError {
  readonly shardId: string;
  readonly record: ExtendedSequenceNumber;
  constructor(shardId: string, record: ExtendedSequenceNumber, cause: unknown) {
    super(
      'DEAD_LETTER_FAILED',
      withCause(
        `deadLetter failed for record ${record.sequenceNumber}/${record.subSequenceNumber} on shard ${shardId}`,
        cause,
      ),
      { retriable: true, cause },
    );
    this.shardId = shardId;
    this.record = { sequenceNumber: record.sequenceNumber, subSequenceNumber: record.subSequenceNumber };
  }
}

/** `shardEnded` returned without checkpointing: the children of this shard cannot start until it does. */
export class ShardEndNotCheckpointedError extends ConsumerError {
  constructor(shardId: string) {
    super(
      'SHARD_END_NOT_CHECKPOINTED',
      `shardEnded for ${shardId} returned without checkpointer.checkpoint(); child shards stay blocked`,
      { retriable: true },
    );
  }
}

/**
 * A lease-table call failed for a reason other than a lost race. `retriable` comes from the AWS error
 * ({@link isRetriableAwsError}): throttling, 5xx, timeouts and network failures are; AccessDenied,
 * ResourceNotFound, ValidationException, KMS errors and missing credentials or region are not.
 */
export class LeaseTableError extends ConsumerError {
  /** The AWS error's name (`AccessDeniedException`, ...), or `undefined` when the failure was not an AWS error. */
  readonly awsErrorName: string | undefined;
  constructor(
    message: string,
    cause: unknown,
    retriable = cause === undefined || isRetriableAwsError(cause),
  ) {
    super('LEASE_TABLE', withCause(message, cause), { retriable, cause });
    this.awsErrorName = awsErrorName(cause);
  }
}

/**
 * A Kinesis control-plane call on the stream (ListShards; with fan-out, DescribeStreamSummary and the stream
 * consumer's registration) failed; `retriable` as for {@link LeaseTableError}, and always when a named stream
 * consumer did not become ACTIVE in time.
 */
export class StreamError extends ConsumerError {
  readonly awsErrorName: string | undefined;
  constructor(
    message: string,
    cause: unknown,
    retriable = cause !== undefined && isRetriableAwsError(cause),
  ) {
    super('STREAM', withCause(message, cause), { retriable, cause });
    this.awsErrorName = awsErrorName(cause);
  }
}

/**
 * GetRecords or GetShardIterator failed. Reported as an event; the fetcher backs off and tries again, at
 * once with the longest backoff when the error is not retriable (permissions and KMS keys can be fixed while
 * the worker runs).
 */
export class FetchError extends ConsumerError {
  readonly shardId: string;
  readonly awsErrorName: string | undefined;
  constructor(shardId: string, cause: unknown) {
    super('FETCH_FAILED', withCause(`fetching from ${shardId} failed`, cause), {
      retriable: isRetriableAwsError(cause),
      cause,
    });
    this.shardId = shardId;
    this.awsErrorName = awsErrorName(cause);
  }
}

/** AWS SDK errors carry their exception name in `name`. */
export function errorName(error: unknown): string {
  return typeof error === 'object' && error !== null && 'name' in error ? String(error.name) : '';
}

/** The AWS exception name of an SDK error (one with `$metadata` or `$fault`), else `undefined`. */
export function awsErrorName(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  if (!('$metadata' in error) && !('$fault' in error) && !(error instanceof Error)) return undefined;
  const name = errorName(error);
  return name === '' || name === 'Error' ? undefined : name;
}

function withCause(message: string, cause: unknown): string {
  if (cause === undefined) return message;
  const name = errorName(cause);
  const detail = cause instanceof Error ? cause.message : String(cause);
  return `${message}: ${name && name !== 'Error' ? `${name}: ` : ''}${detail}`;
}

/**
 * Errors no retry can fix: the caller's permissions, keys, configuration or request. Checked before the SDK's
 * own classification, which counts AccessDeniedException among possible clock-skew errors.
 */
const PERMANENT_NAMES = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'NotAuthorized',
  'ResourceNotFoundException',
  'ValidationException',
  'InvalidArgumentException',
  'SerializationException',
  'CredentialsProviderError',
]);

/**
 * Whether an AWS call that failed this way is worth retrying: the one classifier of this package, used by
 * every retry loop. Throttling, 5xx, timeouts and network failures are retriable (the SDK's own
 * classification, `@smithy/core/retry`), and so is ResourceInUse (a busy resource); permission, KMS, validation and not-found errors, missing credentials
 * and a missing region are not, nor is any other client fault (4xx). Anything else (not an AWS error at all)
 * counts as retriable, so a background loop keeps trying at its bounded pace.
 */
export function isRetriableAwsError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return true;
  const e = error as SdkErrorLike;
  const name = errorName(error);
  if (PERMANENT_NAMES.has(name)) return false;
  // A busy resource (a subscription to the shard younger than 5 s, a stream consumer not ACTIVE yet, a table
  // being created) frees itself: the caller waits and tries again.
  if (name === 'ResourceInUseException') return true;
  if (name.startsWith('KMS')) return name === 'KMSThrottlingException';
  if (e instanceof Error && /region is missing|could not load credentials/i.test(e.message)) return false;
  if (isThrottlingError(e) || isTransientError(e) || isServerError(e)) return true;
  if (e.$fault === 'client') return false;
  return true;
}

type SdkErrorLike = Parameters<typeof isTransientError>[0] & { $fault?: 'client' | 'server' };
