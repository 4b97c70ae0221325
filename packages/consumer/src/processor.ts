import type { UserRecord } from '@shardline/aggregation';
import type { Checkpointer } from './lifecycle/Checkpointer.js';
import type { ExtendedSequenceNumber } from './types.js';

/** Passed to {@link RecordProcessor.initialize}. */
export interface InitializeInput {
  shardId: string;
  /** The checkpoint the shard resumes from: a sequence number or `TRIM_HORIZON` / `LATEST` / `AT_TIMESTAMP`. */
  startingSequenceNumber: string;
  startingSubSequenceNumber: number;
}

/** Passed to {@link RecordProcessor.processRecords}. */
export interface ProcessRecordsInput {
  shardId: string;
  /** De-aggregated user records in shard order. Never empty. */
  records: UserRecord[];
  checkpointer: Checkpointer;
  millisBehindLatest: number | undefined;
}

/** Passed to {@link RecordProcessor.shardEnded}. */
export interface ShardEndedInput {
  shardId: string;
  childShardIds: string[];
  /** Call `checkpoint()` (no arguments): it writes SHARD_END, which unblocks the child shards. */
  checkpointer: Checkpointer;
}

/** Passed to {@link RecordProcessor.shutdownRequested}. */
export interface ShutdownRequestedInput {
  shardId: string;
  /** Checkpoint what is done before the lease is released. */
  checkpointer: Checkpointer;
}

/** Passed to {@link RecordProcessor.leaseLost}. */
export interface LeaseLostInput {
  shardId: string;
}

/**
 * The KCL-style processor. One object serves every shard; each call names its shard. Calls for one shard
 * never overlap: initialize, then processRecords repeatedly, then exactly one of leaseLost, shardEnded,
 * shutdownRequested.
 */
export interface RecordProcessor {
  initialize?(input: InitializeInput): void | Promise<void>;
  processRecords(input: ProcessRecordsInput): void | Promise<void>;
  /** The lease went to another worker: do not checkpoint (it would be rejected). */
  leaseLost?(input: LeaseLostInput): void | Promise<void>;
  /** The shard is finished: must call `checkpointer.checkpoint()`, else the children stay blocked. */
  shardEnded(input: ShardEndedInput): void | Promise<void>;
  /** `stop()` was called: checkpoint what is done; the lease is released afterwards. */
  shutdownRequested?(input: ShutdownRequestedInput): void | Promise<void>;
}

/** Passed to a {@link RecordHandler} with each batch. */
export interface HandlerContext {
  shardId: string;
  millisBehindLatest: number | undefined;
}

/**
 * The plain form: an async function per batch. When it resolves, the batch is checkpointed; when it rejects,
 * the batch is retried (see `processingRetry`). At shard end SHARD_END is checkpointed automatically.
 */
export type RecordHandler = (records: UserRecord[], context: HandlerContext) => Promise<void> | void;

/**
 * Builds one processor per shard, like the KCL's `ShardRecordProcessorFactory`, for processors that keep
 * per-shard state. Called each time this worker starts consuming a shard.
 */
export interface ProcessorFactory {
  createProcessor(shardId: string): RecordProcessor | RecordHandler;
}

/** Any processor form: one object for all shards, a plain handler, or a per-shard factory. */
export type Processor = RecordProcessor | RecordHandler | ProcessorFactory;

/** Whether `processor` is a per-shard factory. */
export function isProcessorFactory(processor: Processor): processor is ProcessorFactory {
  return typeof processor === 'object' && processor !== null && 'createProcessor' in processor;
}

/** Returns a function giving the processor for a shard. */
export function processorSource(processor: Processor): (shardId: string) => RecordProcessor {
  if (isProcessorFactory(processor))
    return (shardId) => toRecordProcessor(processor.createProcessor(shardId));
  const shared = toRecordProcessor(processor);
  return () => shared;
}

/** Adapts either single form to the full object contract used by the shard consumers. */
export function toRecordProcessor(processor: RecordProcessor | RecordHandler): RecordProcessor {
  if (typeof processor !== 'function') return processor;
  const handler = processor;
  return {
    async processRecords({ shardId, records, checkpointer, millisBehindLatest }) {
      await handler(records, { shardId, millisBehindLatest });
      const last = records[records.length - 1] as ExtendedSequenceNumber;
      await checkpointer.checkpointRecord(last);
    },
    async shardEnded({ checkpointer }) {
      await checkpointer.checkpoint();
    },
    // Every completed batch is already checkpointed; a failed one must not be, so nothing to do here.
  };
}
