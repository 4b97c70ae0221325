/** Codes carried by every error this package throws or reports. */
export type ConsumerErrorCode =
  | 'CONFIGURATION'
  | 'CHECKPOINT_OUT_OF_RANGE'
  | 'LEASE_LOST'
  | 'CHECKPOINT_FAILED'
  | 'PROCESSOR_FAILED'
  | 'SHARD_END_NOT_CHECKPOINTED'
  | 'LEASE_TABLE'
  | 'FETCH_FAILED'
  | 'STOPPED';

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
    super('CHECKPOINT_FAILED', message, { retriable: true, cause });
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

/** A lease table operation failed for a reason other than a lost race (throttling, network, permissions). */
export class LeaseTableError extends ConsumerError {
  constructor(message: string, cause: unknown, retriable = true) {
    super('LEASE_TABLE', message, { retriable, cause });
  }
}

/** GetRecords or GetShardIterator failed; the fetcher backs off and retries. Reported as an event. */
export class FetchError extends ConsumerError {
  readonly shardId: string;
  constructor(shardId: string, cause: unknown) {
    super('FETCH_FAILED', `fetching from ${shardId} failed`, { retriable: true, cause });
    this.shardId = shardId;
  }
}

/** AWS SDK errors carry their exception name in `name`. */
export function errorName(error: unknown): string {
  return typeof error === 'object' && error !== null && 'name' in error ? String(error.name) : '';
}

const RETRIABLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'KMSThrottlingException',
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeout',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
]);

/** Whether an AWS call that failed this way is worth retrying (throttling, 5xx, network). */
export function isRetriableAwsError(error: unknown): boolean {
  if (RETRIABLE_NAMES.has(errorName(error))) return true;
  if (typeof error !== 'object' || error === null) return false;
  const meta = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  const status = meta?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && RETRIABLE_NAMES.has(code);
}
