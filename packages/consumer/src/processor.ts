import type { UserRecord } from '@shardline/aggregation';
import { failedRecordOf } from './errors.js';
import { compareExtended, type ExtendedSequenceNumber } from './types.js';

/** Records progress for one shard. Handed to the processor. */
export interface Checkpointer {
  /**
   * With no argument: checkpoints everything delivered so far (at shard end: writes `SHARD_END`). With a
   * sequence number: that Kinesis record is done (if it is an aggregate: its user records delivered so
   * far); pass `subSequenceNumber` to stop inside an aggregate (user records up to and including it are
   * done). Rejects with `CheckpointOutOfRangeError` outside [last checkpoint, last delivered] and with
   * `LeaseLostError` once this worker no longer holds the lease.
   */
  checkpoint(sequenceNumber?: string, subSequenceNumber?: number): Promise<void>;
  /** Same, taking a delivered record (`{ sequenceNumber, subSequenceNumber }`). */
  checkpointRecord(record: ExtendedSequenceNumber): Promise<void>;
}

/** Which shard, of which stream, a processor call is about. */
export interface ShardContext {
  /** The Kinesis shard id (never a multi-stream lease key). */
  shardId: string;
  /**
   * The shard's stream by name; set by the consumer on every call (optional only so that code building
   * these inputs itself keeps compiling). In a multi-stream application this is how to tell streams apart.
   */
  streamName?: string | undefined;
  /** The stream's ARN: always in a multi-stream application, else when the consumer was given `streamARN`. */
  streamARN?: string | undefined;
}

/** Passed to {@link RecordProcessor.initialize}. */
export interface InitializeInput extends ShardContext {
  /** The checkpoint the shard resumes from: a sequence number or `TRIM_HORIZON` / `LATEST` / `AT_TIMESTAMP`. */
  startingSequenceNumber: string;
  startingSubSequenceNumber: number;
}

/** Passed to {@link RecordProcessor.processRecords}. */
export interface ProcessRecordsInput extends ShardContext {
  /**
   * De-aggregated user records in shard order. Never empty. Normally one whole GetRecords batch; after a
   * failure, the rest of it from the failing record on, or (when the failing record is unknown) a part of
   * it, halved until the failing record is found.
   */
  records: UserRecord[];
  checkpointer: Checkpointer;
  millisBehindLatest: number | undefined;
}

/** Passed to {@link RecordProcessor.shardEnded}. */
export interface ShardEndedInput extends ShardContext {
  childShardIds: string[];
  /** Call `checkpoint()` (no arguments): it writes SHARD_END, which unblocks the child shards. */
  checkpointer: Checkpointer;
}

/** Passed to {@link RecordProcessor.shutdownRequested}. */
export interface ShutdownRequestedInput extends ShardContext {
  /** Checkpoint what is done before the lease is released. */
  checkpointer: Checkpointer;
}

/** Passed to {@link RecordProcessor.leaseLost}. */
export interface LeaseLostInput extends ShardContext {}

/**
 * The KCL-style processor. One object serves every shard; each call names its shard. Calls for one shard
 * never overlap: initialize, then processRecords repeatedly, then exactly one of leaseLost, shardEnded,
 * shutdownRequested.
 */
export interface RecordProcessor {
  initialize?(input: InitializeInput): void | Promise<void>;
  /**
   * Handles `records`. Returning means every one of them was handled (checkpointing stays yours). To say
   * which record failed, either checkpoint up to the record before it and then throw, or throw a
   * `RecordFailedError` naming it: the records before it are not handed to you again, and retries start
   * at it. Any other throw makes the consumer look for the failing record by halving the records it hands
   * you (records of halves that succeed are not handed to you again).
   */
  processRecords(input: ProcessRecordsInput): void | Promise<void>;
  /** The lease went to another worker: do not checkpoint (it would be rejected). */
  leaseLost?(input: LeaseLostInput): void | Promise<void>;
  /** The shard is finished: must call `checkpointer.checkpoint()`, else the children stay blocked. */
  shardEnded(input: ShardEndedInput): void | Promise<void>;
  /** `stop()` was called: checkpoint what is done; the lease is released afterwards. */
  shutdownRequested?(input: ShutdownRequestedInput): void | Promise<void>;
}

/** Passed to a {@link RecordHandler} with each batch. */
export interface HandlerContext extends ShardContext {
  millisBehindLatest: number | undefined;
}

/**
 * The plain form: an async function per batch. When it resolves, the batch is checkpointed. To say which
 * record failed, throw a `RecordFailedError` naming it: the records before it are checkpointed and never
 * handed to you again, and retries start at it. Any other rejection makes the consumer look for the
 * failing record by halving the batch (each half that succeeds is checkpointed). See `processingRetry`,
 * `onProcessingFailure` and `deadLetter`. At shard end SHARD_END is checkpointed automatically.
 */
export type RecordHandler = (records: UserRecord[], context: HandlerContext) => Promise<void> | void;

/**
 * Builds one processor per shard, like the KCL's `ShardRecordProcessorFactory`, for processors that keep
 * per-shard state. Called each time this worker starts consuming a shard.
 */
export interface ProcessorFactory {
  /** `shard` names the stream too (multi-stream); `shardId` is the Kinesis shard id. */
  createProcessor(shardId: string, shard: ShardContext): RecordProcessor | RecordHandler;
}

/** Passed to a {@link DeadLetterHandler} with the records that keep failing. */
export interface DeadLetterContext extends ShardContext {
  /** Failed processor attempts on these records (`processingRetry.maxAttempts`). */
  attempts: number;
  /** When the first of those attempts failed. */
  firstFailedAt: Date;
}

/**
 * Receives the records that failed `processingRetry.maxAttempts` times (today always exactly one user
 * record) and the processor's last error. When it resolves, the records are checkpointed past and the shard
 * carries on; when it throws, it is reported (`processingError`, code `DEAD_LETTER_FAILED`) and called again
 * with backoff, so a record is never dropped silently.
 */
export type DeadLetterHandler = (
  records: UserRecord[],
  error: unknown,
  context: DeadLetterContext,
) => Promise<void> | void;

/** Any processor form: one object for all shards, a plain handler, or a per-shard factory. */
export type Processor = RecordProcessor | RecordHandler | ProcessorFactory;

/** Whether `processor` is a per-shard factory. */
export function isProcessorFactory(processor: Processor): processor is ProcessorFactory {
  return typeof processor === 'object' && processor !== null && 'createProcessor' in processor;
}

/** Returns a function giving the processor for a shard. */
export function processorSource(processor: Processor): (shard: ShardContext) => RecordProcessor {
  if (isProcessorFactory(processor))
    return (shard) => toRecordProcessor(processor.createProcessor(shard.shardId, shard));
  const shared = toRecordProcessor(processor);
  return () => shared;
}

/** Adapts either single form to the full object contract used by the shard consumers. */
export function toRecordProcessor(processor: RecordProcessor | RecordHandler): RecordProcessor {
  if (typeof processor !== 'function') return processor;
  const handler = processor;
  return {
    async processRecords({ records, checkpointer, millisBehindLatest, ...shard }) {
      try {
        await handler(records, { ...shard, millisBehindLatest });
      } catch (error) {
        // The handler named the failing record: the ones before it are done, so they are checkpointed
        // (then the consumer retries from the failing one).
        const failed = failedRecordOf(error);
        const index = failed ? records.findIndex((record) => compareExtended(record, failed) >= 0) : -1;
        const before = records[index - 1];
        if (before) await checkpointer.checkpointRecord(before);
        throw error;
      }
      const last = records[records.length - 1] as ExtendedSequenceNumber;
      await checkpointer.checkpointRecord(last);
    },
    async shardEnded({ checkpointer }) {
      await checkpointer.checkpoint();
    },
    // Every completed batch is already checkpointed; a failed one must not be, so nothing to do here.
  };
}
