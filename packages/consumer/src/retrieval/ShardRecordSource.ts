import type { _Record, ChildShard } from '@aws-sdk/client-kinesis';

/** Where to start reading a shard. */
export type StartingPosition =
  | { type: 'TRIM_HORIZON' }
  | { type: 'LATEST' }
  | { type: 'AT_TIMESTAMP'; timestamp: Date }
  | { type: 'AT_SEQUENCE_NUMBER'; sequenceNumber: string }
  | { type: 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string };

/** Records read from a shard (one GetRecords response, or one SubscribeToShard event) as handed on. */
export interface FetchedBatch {
  records: _Record[];
  millisBehindLatest: number | undefined;
  /** True on the last batch of a closed shard (no next iterator, or no continuation sequence number). */
  shardEnded: boolean;
  /** Children of the shard, present on the last batch of a closed shard. */
  childShards: ChildShard[];
  /** Sum of the records' data sizes. */
  bytes: number;
}

/**
 * What feeds one shard consumer: polling (`PollingFetcher`, GetRecords) or enhanced fan-out
 * (`FanOutSubscriber`, SubscribeToShard). Both read ahead into a queue bounded by batches and bytes and stop
 * reading from Kinesis while it is full, retry every failure themselves (reported, never thrown), and hand
 * out batches in shard order. The shard consumer works the same whichever one it is given.
 */
export interface ShardRecordSource {
  /** Starts reading in the background. Calling it twice is a no-op. */
  start(): void;
  /** Stops reading and aborts any call in flight; `next()` then resolves `undefined`. */
  stop(): Promise<void>;
  /** The next batch with records (or the shard-end batch); `undefined` once stopped or fully read. */
  next(): Promise<FetchedBatch | undefined>;
  /** The latest `MillisBehindLatest` Kinesis reported, also for responses or events without records. */
  readonly millisBehindLatest: number | undefined;
}

/** Sum of the records' data sizes. */
export function bytesOf(records: readonly _Record[]): number {
  let bytes = 0;
  for (const record of records) bytes += record.Data?.byteLength ?? 0;
  return bytes;
}
